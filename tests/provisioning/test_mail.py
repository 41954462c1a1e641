"""Run reports by email (S2.6, S5.8), sent to a real SMTP server started in the test
(aiosmtpd) that requires STARTTLS and a login, as a mail relay of a company does."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import Engine

from gateway.config import RunReport
from gateway.settings import SmtpSettings
from provisioning.accounts import TargetRunner
from provisioning.engine import Mailer, Scheduler
from provisioning.records import runs
from tests.provisioning.harness import TENANT, config_with
from tests.provisioning.smtp_server import SmtpServer, free_port, start

USER, PASSWORD = "scimgw-relay", "relay-Pa55-7781"
REPORT = RunReport(to=["it-admin@acme.com", "hr-ops@acme.com"])
REQUEST = runs.RunRequest(TENANT, "lms", trigger="schedule", slot="2026-12-03T09:00:00Z")
FAILED = runs.RunOutcome(
    "run-1",
    "failed",
    {"read": 3, "created": 1, "failed": 2},
    (
        runs.Failure("u-1 ada@acme.com", "badge: required, but nickName gave no value"),
        runs.Failure("u-2 bob@acme.com", "2 accounts match this email"),
    ),
    message="enqueued 1 load events",
)
SUCCEEDED = runs.RunOutcome("run-2", "succeeded", {"read": 3, "unchanged": 3})


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    server, controller = start(tmp_path, USER, PASSWORD)
    yield server
    controller.stop()


def _mailer(smtp: SmtpServer, password: str = PASSWORD) -> Mailer:
    settings = SmtpSettings(
        host=smtp.host, port=smtp.port, username=USER, password=password,
        sender="scimgw@acme.com",
    )  # fmt: skip
    return Mailer(settings, tls=smtp.client_tls)


async def test_a_failed_run_is_mailed_with_its_reasons_over_starttls_after_login(
    smtp: SmtpServer,
) -> None:
    assert await _mailer(smtp).report(REPORT, REQUEST, FAILED) is True
    [mail] = smtp.received
    assert mail.tls and mail.login == USER
    assert mail.recipients == ["it-admin@acme.com", "hr-ops@acme.com"]
    assert mail.message["Subject"] == "scimgw: lms (acme) schedule run failed"
    text = mail.message.get_content()
    assert "Status:     failed" in text
    assert "created     1" in text and "failed      2" in text
    assert "u-1 ada@acme.com: badge: required, but nickName gave no value" in text
    assert "u-2 bob@acme.com: 2 accounts match this email" in text
    assert "scimgw runs show run-1" in text


async def test_a_report_on_failure_only_stays_quiet_after_a_good_run(smtp: SmtpServer) -> None:
    on_failure = RunReport.model_validate(yaml.safe_load("{to: [it@acme.com], on: failure}"))
    assert on_failure.when == "failure"  # "on" is YAML's true: read as "when"
    assert await _mailer(smtp).report(on_failure, REQUEST, SUCCEEDED) is False
    assert await _mailer(smtp).report(on_failure, REQUEST, FAILED) is True
    assert await _mailer(smtp).report(REPORT, REQUEST, SUCCEEDED) is True
    assert [m.message["Subject"].split()[-1] for m in smtp.received] == ["failed", "succeeded"]


async def test_a_refused_login_or_an_absent_server_is_logged_and_not_raised(
    smtp: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _mailer(smtp, password="wrong").report(REPORT, REQUEST, FAILED) is False
    away = Mailer(SmtpSettings(host="127.0.0.1", port=free_port(), timeout=2))
    assert await away.report(REPORT, REQUEST, FAILED) is False
    assert smtp.received == []
    logged = capsys.readouterr().out
    assert logged.count("mail.failed") == 2
    assert "SMTPAuthenticationError" in logged and "wrong" not in logged


def test_smtp_settings_come_from_the_environment_and_hide_the_password(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("from-a-file-55\n")
    env = {
        "SCIMGW_SMTP_HOST": "smtp.acme.com",
        "SCIMGW_SMTP_USERNAME": "relay",
        "SCIMGW_SMTP_PASSWORD_FILE": str(secret),
        "SCIMGW_SMTP_FROM": "scimgw@acme.com",
    }
    settings = SmtpSettings.from_env(env)
    assert settings is not None
    assert (settings.port, settings.starttls, settings.password) == (587, True, "from-a-file-55")
    assert "from-a-file-55" not in repr(settings)
    assert SmtpSettings.from_env({}) is None


async def test_each_scheduled_run_mails_its_report(
    engine: Engine, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "whsec-mail-20")
    config = config_with(
        "lms",
        {
            "type": "webhook",
            "base_url": "http://hooks.test",
            "options": {"secret": "${HOOK_SECRET}"},
            "schedule": {"every": "24h", "initial_delay": "12h"},
            "report": {"to": ["it-admin@acme.com"]},
        },
    )
    now = [datetime(2026, 12, 1, 9, 0, tzinfo=UTC)]
    runner = TargetRunner(engine, config, clock=lambda: now[0])
    scheduler = Scheduler(engine, config, runner, notify=_mailer(smtp).report, clock=lambda: now[0])
    await asyncio.gather(*await scheduler.tick())
    assert smtp.received == []  # activated: the first run is 12 hours later
    now[0] += timedelta(hours=12)
    await asyncio.gather(*await scheduler.tick())
    [mail] = smtp.received
    assert mail.message["Subject"] == "scimgw: lms (acme) schedule run succeeded"
    assert "slot 2026-12-01T21:00:00Z" in mail.message.get_content()
