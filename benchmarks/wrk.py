"""Run wrk with one of the Lua scenarios in benchmarks/lua and read its JSON summary.

A measurement fails when any response is not 2xx, when a body lacks the expected text,
or on any socket error or timeout: a fast stream of errors is not a throughput figure.
"""

import json
import os
import resource
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LUA = Path(__file__).parent / "lua"
MARKER = "BENCH "


@dataclass(frozen=True)
class Load:
    """How hard wrk pushes: threads, open connections, seconds."""

    threads: int = 2
    connections: int = 32
    seconds: int = 10

    def flags(self) -> list[str]:
        # A 10 s timeout instead of wrk's 2 s: a slow response is a latency, not an error.
        return [
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{self.seconds}s",
            "--timeout",
            "10s",
        ]


@dataclass
class Measurement:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    errors: dict[str, int]
    unexpected: int
    command: str
    wrk_cpu_seconds: float = 0.0
    failure: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def command(url: str, script: str, load: Load) -> list[str]:
    return ["wrk", *load.flags(), "--latency", "-s", f"{script}.lua", url]


def measure(url: str, script: str, load: Load, env: dict[str, str]) -> tuple[Measurement, str]:
    """Run one scenario; returns the measurement and wrk's full output."""
    argv = command(url, script, load)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        argv,
        cwd=LUA,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=load.seconds + 60,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    output = done.stdout + done.stderr
    line = next((x for x in done.stdout.splitlines() if x.startswith(MARKER)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {output}")
    data = json.loads(line[len(MARKER) :])
    latency = data["latency_us"]
    result = Measurement(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        statuses=data["statuses"],
        errors=data["errors"],
        unexpected=data["unexpected"],
        command=" ".join(argv),
        wrk_cpu_seconds=cpu_seconds,
    )
    result.failure = failure(result)
    return result, output


def failure(result: Measurement) -> str | None:
    """Why a measurement does not count, or None."""
    wrong = {s: n for s, n in result.statuses.items() if not 200 <= int(s) < 300}
    if wrong:
        return f"non-2xx responses: {wrong}"
    errors = {k: n for k, n in result.errors.items() if n and k != "status"}
    if errors:
        return f"socket errors: {errors}"
    if result.unexpected:
        return f"{result.unexpected} responses without the expected body"
    if not result.requests:
        return "no request completed"
    return None
