"""The S2 seed example (examples/seeds/s2-talenthr-talentlms.yaml) says what S2 asks."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.config.file import GatewayConfig, load_config
from provisioning.engine.schedules import latest_slot, next_slot

SEED = Path(__file__).resolve().parents[3] / "examples" / "seeds" / "s2-talenthr-talentlms.yaml"


@pytest.fixture
def seed(monkeypatch: pytest.MonkeyPatch) -> GatewayConfig:
    monkeypatch.setenv("TALENTHR_API_KEY", "hr-key")
    monkeypatch.setenv("TALENTLMS_API_KEY", "lms-key")
    return load_config(SEED)


def test_the_lms_is_pulled_12_hours_after_activation_then_every_24_hours_with_a_report(
    seed: GatewayConfig,
) -> None:
    """S2.6: "LMS changes are pulled 12 hours after activation and then every 24 hours.
    Each automatic run sends an email report to the admin." """
    pull = seed.tenant("acme").connections["lms_pull"]
    assert pull.schedule is not None and pull.report is not None
    activated = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert latest_slot(pull.schedule, activated, activated + timedelta(hours=11)) is None
    first = next_slot(pull.schedule, activated, activated)
    assert first == activated + timedelta(hours=12)
    assert next_slot(pull.schedule, activated, first) == first + timedelta(hours=24)
    assert pull.report.when == "always" and pull.report.to


def test_hr_is_polled_often_and_the_lms_to_hr_half_only_creates(seed: GatewayConfig) -> None:
    """S2.2 and S2.6: HR changes reach the LMS within minutes (no webhooks: polled); the
    LMS -> HR half creates employees and nothing else."""
    connections = seed.tenant("acme").connections
    hr = connections["hr"]
    assert hr.direction == "source" and hr.schedule is not None
    assert hr.schedule.every is not None and hr.schedule.every <= 300
    pull, hire = connections["lms_pull"], connections["hr_hire"]
    assert pull.source is not None and pull.source.authoritative == ()
    assert pull.source.on_leave == "keep"
    assert hire.create_only and hire.deprovision.action == "none"
    assert connections["lms"].matching.adopt_existing  # S2.4: the email's LMS user
