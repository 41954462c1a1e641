"""``scimgw runs`` and ``scimgw runs show`` on a real store: what an admin reads after a run."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from provisioning.records import activations, runs
from scimgw.cli import app as cli

runner = CliRunner()
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _run(engine: Engine, name: str, minutes: int, failed: int = 0, tenant: str = "acme") -> str:
    with engine.begin() as connection:
        run_id = runs.start(
            connection, tenant=tenant, name=name, direction="target", trigger="schedule",
            runner="w1", now=T0 + timedelta(minutes=minutes),
            slot=f"2026-12-03T09:{minutes:02}:00Z",
        )  # fmt: skip
        runs.finish(
            connection,
            run_id,
            status="failed" if failed else "succeeded",
            counts={"read": 10, "created": 10 - failed, "failed": failed},
            now=T0 + timedelta(minutes=minutes, seconds=3),
            failed=[runs.Failure(f"u-{i} p{i}@acme.com", "mapping refused") for i in range(failed)],
            message=f"enqueued {10 - failed} load events",
        )
    return run_id


async def _invoke(engine: Engine, *arguments: str) -> Any:
    url = engine.url.render_as_string(hide_password=False)
    return await asyncio.to_thread(
        runner.invoke, cli, [*arguments, "--database-url", url], env={"COLUMNS": "200"}
    )


async def test_runs_lists_the_latest_first_with_counts_and_filters(engine: Engine) -> None:
    _run(engine, "lms", 0)
    _run(engine, "lms", 5, failed=2)
    _run(engine, "hr", 7, tenant="globex")
    result = await _invoke(engine, "runs", "--connection", "lms")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "lms" in line]
    assert len(rows) == 2
    assert "failed" in rows[0] and "created 8, failed 2" in rows[0]
    assert "succeeded" in rows[1] and "3.0" in rows[1]
    listed = await _invoke(engine, "runs", "--tenant", "globex", "--json")
    [only] = [orjson.loads(line) for line in listed.output.splitlines()]
    assert (only["connection"], only["status"], only["seconds"]) == ("hr", "succeeded", 3.0)


async def test_runs_show_prints_one_run_with_each_failure_and_reason(engine: Engine) -> None:
    run_id = _run(engine, "lms", 5, failed=2)
    result = await _invoke(engine, "runs", "show", run_id)
    assert result.exit_code == 0, result.output
    text = result.output
    assert f"run: {run_id}" in text and "acme/lms (target)" in text
    assert "schedule (slot 2026-12-03T09:05:00Z)" in text
    assert "message: enqueued 8 load events" in text
    assert "u-0 p0@acme.com" in text and "u-1 p1@acme.com" in text and "mapping refused" in text
    document = orjson.loads((await _invoke(engine, "runs", "show", run_id, "--json")).output)
    assert document["counts"]["failed"] == 2
    assert [f["person"] for f in document["failures"]] == ["u-0 p0@acme.com", "u-1 p1@acme.com"]


async def test_runs_show_of_an_unknown_run_exits_1_and_says_so(engine: Engine) -> None:
    result = await _invoke(engine, "runs", "show", "no-such-run")
    assert result.exit_code == 1
    assert "no run no-such-run" in result.output


async def test_runs_abandon_closes_a_run_left_running_so_the_connection_can_run(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        left = runs.start(
            connection, tenant="acme", name="lms", direction="target", trigger="manual",
            runner="gone-host:4242", now=T0,
        )  # fmt: skip
    result = await _invoke(engine, "runs", "abandon", left)
    assert result.exit_code == 0, result.output
    with engine.connect() as connection:
        closed = runs.get(connection, left)
        assert runs.running(connection, "acme", "lms") is None
    assert closed is not None and closed.status == "failed"
    assert closed.message == "abandoned by an admin"
    again = await _invoke(engine, "runs", "abandon", left)
    assert again.exit_code == 1 and "no running run" in again.output


async def test_status_shows_each_connections_last_run_and_its_next_scheduled_one(
    engine: Engine, tmp_path: Path
) -> None:
    config = tmp_path / "gateway.yaml"
    hr = {
        "type": "hr_json",
        "direction": "source",
        "base_url": "https://hr.example.com",
        "schedule": {"every": "24h", "initial_delay": "12h"},
    }
    hooks = {"type": "webhook", "base_url": "https://hooks.example.com",
             "options": {"secret": "${HOOK_SECRET}"}}  # fmt: skip
    idle = {"type": "webhook", "base_url": "https://idle.example.com",
            "options": {"secret": "${HOOK_SECRET}"}}  # fmt: skip
    tenants = {"acme": {"connections": {"hr": hr, "hooks": hooks, "idle": idle}}}
    config.write_text(yaml.safe_dump({"default_tenant": "acme", "tenants": tenants}))
    activated = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    with engine.begin() as connection:
        activations.activate(connection, "acme", "hr", activated)
    run_id = _run(engine, "hooks", 5, failed=2)

    result = await _invoke(engine, "status", "--config", str(config))

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    [hr_row] = [line for line in lines if " hr " in line]
    assert "every 24 h" in hr_row and "never" in hr_row
    assert f"{activated + timedelta(hours=12):%Y-%m-%d %H:%M} UTC" in hr_row  # the first slot
    [hooks_row] = [line for line in lines if "hooks" in line and run_id in line]
    assert "failed: enqueued 8 load events" in hooks_row and "manual" in hooks_row
    assert not [line for line in lines if "idle" in line and "never" in line]
