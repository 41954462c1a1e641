"""Structured logs (structlog) that never carry secrets or sensitive attributes.

Every event passes through :func:`redact`, which replaces the values of keys that name a
credential or a sensitive HR attribute, at any depth, before anything is rendered.
"""

import logging
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from structlog.typing import EventDict

#: Keys whose values never reach a log line, compared case-insensitively.
REDACTED_KEYS = frozenset(
    {
        "authorization",
        "token",
        "secret",
        "password",
        "client_secret",
        "api_key",
        "dateofbirth",
        "date_of_birth",
        "ssn",
    }
)
REDACTED = "[redacted]"
#: Libraries that log every outbound request themselves, URL and all. The provisioning
#: engine logs its calls, redacted (provisioning/targets/client.py); theirs would repeat each one
#: unredacted (a query string can carry a key) and cost the worker a log line per event.
CHATTY_LOGGERS = ("httpx", "httpcore", "httpx_aiohttp")


def _scrub(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: REDACTED if str(k).lower() in REDACTED_KEYS else _scrub(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def redact(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """structlog processor: replace credential and sensitive values, at any depth."""
    return _scrub(event)


class _Stderr:
    """Whatever ``sys.stderr`` is at each write, not the object it was at configuration:
    a test runner (or typer's CliRunner) swaps and closes the stream it captures, and a
    logger bound to a closed stream fails the delivery that logs a failure."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


#: Loggers keep the configuration of their first use (fast). The test suite turns this off:
#: a logger cached while one test ran the CLI would otherwise ignore a later test's
#: ``structlog.testing.capture_logs`` and the level it asks for.
CACHE_LOGGERS = True


def configure(level: str = "info", json: bool = True) -> None:
    """Route structlog and the standard library to stderr, one event per line."""
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=CACHE_LOGGERS,
    )
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
    quiet = max(logging.WARNING, logging.getLevelName(level.upper()))
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
