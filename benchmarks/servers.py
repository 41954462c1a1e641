"""Start the gateway (``scimgw serve``) and the bare app as subprocesses on loopback."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "gateway.yaml"
#: The same tenant with three enabled target connections (three outbox rows per change).
THREE_TARGETS = ROOT / "benchmarks" / "three-targets.yaml"


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """SIGTERM to the server's own process group (uvicorn and its workers)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _start(name: str, argv: list[str], env: dict[str, str], log: Path, probe: str) -> Server:
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--host", HOST, "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, f"http://{HOST}:{port}", process, log)
    try:
        _wait_ready(server, probe)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: Server, probe: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(server.url + probe, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready after {timeout}s: {server.log.read_text()}")


def start_gateway(
    database_url: str, workers: int, log: Path, config: Path = CONFIG, *, worker: bool = True
) -> Server:
    """``scimgw serve``; ``worker=False`` adds ``--no-worker`` (no delivery in-process)."""
    scimgw = str(Path(sys.executable).parent / "scimgw")
    env = {
        "SCIMGW_DATABASE_URL": database_url,
        "SCIMGW_CONFIG": str(config),
        "SCIMGW_LOG_LEVEL": "warning",
    }
    argv = [scimgw, "serve", "--workers", str(workers)]
    if not worker:
        argv.append("--no-worker")
    return _start("scimgw", argv, env, log, "/healthz")


def start_bare(workers: int, log: Path) -> Server:
    argv = [sys.executable, "-m", "benchmarks.bare", "--workers", str(workers)]
    return _start("bare", argv, {}, log, "/scim/v2/Users/probe")
