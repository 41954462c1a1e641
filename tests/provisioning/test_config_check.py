"""``scimgw config check``: every problem of a configuration, with its YAML path."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from scimgw.cli import app

runner = CliRunner()


def _check(tmp_path: Path, connection: dict) -> tuple[int, str]:  # type: ignore[type-arg]
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({"tenants": {"acme": {"connections": {"lms": connection}}}}))
    result = runner.invoke(app, ["config", "check", str(path)])
    return result.exit_code, result.output


def test_a_missing_environment_variable_is_named_with_its_yaml_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LMS_SECRET", raising=False)
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": "https://lms.example/oauth/token",
        "client_id": "scimgw",
        "client_secret": "${LMS_SECRET}",
    }
    code, output = _check(
        tmp_path, {"type": "scim", "base_url": "https://lms.example", "auth": auth}
    )
    assert code == 2
    expected = (
        "tenants.acme.connections.lms.auth.client_secret: "
        "environment variable LMS_SECRET is not set"
    )
    assert expected in " ".join(output.split())


def test_a_literal_secret_is_refused_and_not_echoed(tmp_path: Path) -> None:
    auth = {"type": "bearer", "token": "sk_live_do_not_print"}
    code, output = _check(tmp_path, {"type": "scim", "base_url": "https://x", "auth": auth})
    assert code == 2
    assert "secrets must be references" in " ".join(output.split())
    assert "sk_live_do_not_print" not in output


@pytest.mark.parametrize(
    ("connection", "problem"),
    [
        ({"type": "nosuch"}, "tenants.acme.connections.lms.type: unknown connection type 'nosuch'"),
        (
            {"type": "scim", "scope": 'nosuchattribute eq "x"'},
            "tenants.acme.connections.lms.scope:",
        ),
        (
            {
                "type": "scim",
                "field_map": {"userName": {"from": "userName", "transform": ["lowr"]}},
            },
            "tenants.acme.connections.lms.field_map: userName: unknown transform 'lowr'",
        ),
        (
            {"type": "scim", "options": {"update_method": "post"}},
            "tenants.acme.connections.lms.options.update_method:",
        ),
        ({"type": "scim", "rate_limit": "fast"}, "tenants.acme.connections.lms.rate_limit:"),
    ],
)
def test_each_problem_names_its_yaml_path(tmp_path: Path, connection: dict, problem: str) -> None:  # type: ignore[type-arg]
    code, output = _check(tmp_path, connection)
    assert code == 2
    assert problem in " ".join(output.split())


def test_a_valid_file_is_reported_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMS_TOKEN", "t0k3n")
    connection = {
        "type": "scim",
        "base_url": "https://lms.example/scim/v2",
        "auth": {"type": "bearer", "token": "${LMS_TOKEN}"},
        "scope": 'emails[type eq "work"].value ew "@acme.com"',
        "rate_limit": "50/min",
    }
    code, output = _check(tmp_path, connection)
    assert code == 0, output
    assert "ok (1 tenants, 1 connections)" in output


def test_a_scope_may_name_write_only_hr_attributes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine reads what it delivers: SCIM tokens without scim:sensitive may not filter
    on dateOfBirth (gateway.scim.visibility), the operator's scope filters may."""
    monkeypatch.setenv("LMS_TOKEN", "t0k3n")
    hr = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
    connection = {
        "type": "scim",
        "base_url": "https://lms.example/scim/v2",
        "auth": {"type": "bearer", "token": "${LMS_TOKEN}"},
        "scope": f'{hr}:dateOfBirth lt "2008-01-01"',
    }
    code, output = _check(tmp_path, connection)
    assert code == 0, output
