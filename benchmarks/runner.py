"""Measure one scenario against one server: wait for a quiet machine, warm up, run wrk,
record the CPU used by the server, by wrk and by everything else, keep wrk's output."""

from dataclasses import dataclass
from pathlib import Path

from benchmarks import cpu
from benchmarks.servers import Server
from benchmarks.wrk import Load, Measurement, measure


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    path: str = "/"
    #: Text every response body must contain.
    expect: str | None = None
    #: Run against the gateway whose tenant has three target connections.
    fanout: bool = False


@dataclass
class Runner:
    load: Load
    warmup: int
    run_id: str
    patience: float
    logs: Path
    invocations: int = 0

    def nonce(self) -> str:
        """Unique per wrk invocation, so that POST userNames never repeat (no 409)."""
        self.invocations += 1
        return f"{self.run_id}{self.invocations}"

    def run(
        self, server: Server, scenario: Scenario, env: dict[str, str], load: Load | None = None
    ) -> Measurement:
        load = load or self.load
        env = {**env, "BENCH_EXPECT": scenario.expect} if scenario.expect else dict(env)
        url = server.url + scenario.path
        busy = cpu.wait_quiet(patience=self.patience)
        calibration = cpu.calibrate()
        if self.warmup:
            warm = Load(load.threads, load.connections, self.warmup)
            measure(url, scenario.script, warm, {**env, "BENCH_RUN": self.nonce()})
        env["BENCH_RUN"] = self.nonce()
        with cpu.usage(server.process.pid) as used:
            measurement, output = measure(url, scenario.script, load, env)
        wrk_cores = measurement.wrk_cpu_seconds / measurement.seconds
        measurement.extra = {
            "server_cores": used.server_cores,
            "wrk_cores": round(wrk_cores, 2),
            # CPU spent by neither the server nor wrk: other work, or the database server.
            "other_cores": round(used.busy_cores - used.server_cores - wrk_cores, 2),
            "other_busy_before": busy,
            "calibration_ms": calibration,
        }
        log = self.logs / f"{server.name}-{scenario.name}-{self.invocations}.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"{measurement.command}\n\n{output}")
        print(
            f"  {scenario.name:<16} {measurement.rps:>8,.0f} req/s  p50 {measurement.p50_ms:6.2f}"
            f" ms  cores: server {used.server_cores:.2f}, wrk {wrk_cores:.2f}, other "
            f"{measurement.extra['other_cores']:.2f}; calibration {calibration} ms  "
            f"{measurement.failure or 'ok'}",
            flush=True,
        )
        return measurement
