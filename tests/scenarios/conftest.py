"""Seed integrations end to end: contract fakes on real sockets, scimgw as a real process.

A scenario serves the source's and the target's fakes with :func:`tests.fakes.serving.served`,
writes a configuration pointing at them, starts ``scimgw serve`` (SCIM API, embedded delivery
worker and scheduler) in a subprocess on the test's database, runs ``scimgw`` commands as
subprocesses, and asserts what the target fake holds afterwards.
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from sqlalchemy.engine import Engine

from gateway.auth.tokens import create_token, ensure_tenant
from gateway.store.database import create_engine
from tests.fakes.serving import free_port, served

SCIM = "application/scim+json"
T = TypeVar("T")


class Gateway:
    """scimgw run as a user runs it, on one database and one configuration file."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.database_url = database_url
        self.directory = directory
        self.config_path = directory / "gateway.yaml"
        self.env: dict[str, str] = {}
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log = directory / "scimgw.log"

    # -- configuration -----------------------------------------------------------------

    def configure(self, config: dict[str, Any] | str, **env: str) -> Path:
        """Write the configuration file (a dict, or YAML text); ``env`` holds its secrets."""
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        self.config_path.write_text(text)
        self.env.update(env)
        return self.config_path

    def _environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "SCIMGW_DATABASE_URL": self.database_url,
            "SCIMGW_CONFIG": str(self.config_path),
            "SCIMGW_LOG_LEVEL": "info",
            "COLUMNS": "200",
            **self.env,
        }

    # -- commands ----------------------------------------------------------------------

    def cli(self, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``scimgw <arguments>`` in a subprocess; its exit code and output."""
        return subprocess.run(
            [sys.executable, "-m", "scimgw.cli", *arguments],
            env=self._environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *arguments: str) -> str:
        """``scimgw serve`` with its embedded worker and scheduler (unless ``arguments``
        say ``--no-worker``): the server's base URL."""
        for _attempt in range(3):
            url = self._serve(free_port(), arguments)
            if url is not None:
                return url
        raise AssertionError(f"scimgw serve found no free port:\n{self.log()}")

    def _serve(self, port: int, arguments: tuple[str, ...]) -> str | None:
        """The server's URL once it listens on ``port``; None when another process took
        the port after :func:`free_port` released it (tests run in parallel).

        Ready means this server said it listens: uvicorn runs the app's startup before it
        binds, so another test's server on that port could answer ``/healthz`` first.
        """
        started_at = self._log.stat().st_size if self._log.exists() else 0
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "scimgw.cli", "serve", *arguments, "--port", str(port)],
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{port}"
        listening = f"Uvicorn running on {self.url}"
        deadline = time.monotonic() + 30
        while True:
            output = self._log.read_bytes()[started_at:].decode(errors="replace")
            if self._process.poll() is not None:
                if "address already in use" in output:
                    return None
                raise AssertionError(f"scimgw serve exited:\n{self.log()}")
            if listening in output and self._answers():
                return self.url
            if time.monotonic() > deadline:
                raise AssertionError(f"scimgw serve did not answer /healthz:\n{self.log()}")
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    # -- SCIM --------------------------------------------------------------------------

    def token(self, tenant: str, scopes: tuple[str, ...] = ("scim:write",)) -> str:
        """A SCIM token for ``tenant`` (its row created as ``serve --init`` would)."""
        engine = self.engine()
        try:
            ensure_tenant(engine, tenant, tenant)
            return create_token(engine, tenant, f"scenario-{time.monotonic_ns()}", list(scopes))
        finally:
            engine.dispose()

    def engine(self) -> Engine:
        return create_engine(self.database_url)

    def scim(self, tenant: str) -> httpx.Client:
        """A SCIM client of the running server for ``tenant``."""
        headers = {"Authorization": f"Bearer {self.token(tenant)}", "Content-Type": SCIM}
        return httpx.Client(base_url=f"{self.url}/scim/v2", headers=headers, timeout=10)

    def users(self, tenant: str) -> list[dict[str, Any]]:
        with self.scim(tenant) as client:
            answer = client.get("/Users", params={"count": "1000"})
            answer.raise_for_status()
            return list(answer.json().get("Resources", []))


def wait_for(probe: Callable[[], T | None], timeout: float = 20, what: str = "it") -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.1)


@pytest.fixture
def gateway(database_url: str, tmp_path: Path) -> Iterator[Gateway]:
    """scimgw on the test's database (SQLite, then PostgreSQL); stopped after the test."""
    running = Gateway(database_url, tmp_path)
    yield running
    running.stop()


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """Serve an ASGI app (a fake) on loopback for the test: ``serve(app)`` is its base URL."""
    stack: list[Any] = []

    def start(app: Any) -> str:
        context = served(app)
        stack.append(context)
        return context.__enter__()

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)
