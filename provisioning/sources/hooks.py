"""Inbound webhook events of source connections: received, recorded, then processed.

:func:`receive` is what the endpoint does before it answers (``POST
/hooks/{tenant}/{connection}``, wired in scimgw/hooks.py): find the connection, check the
sender's shared secret, read the event with the source's declared contract, record it
(deduplicated). It never calls the vendor: the answer (202) does not wait for anyone.
:class:`HookProcessor` then applies each recorded event with
:class:`provisioning.sources.arrivals.ArrivalRunner`, in the background of ``scimgw
serve`` and ``scimgw worker``; an event recorded before a restart is processed after it.
"""

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
import structlog
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from gateway.config import GatewayConfig
from gateway.store.database import writer
from provisioning.connectors import inbound
from provisioning.records import hooks, runs
from provisioning.sources.arrivals import ArrivalRunner
from provisioning.sources.registry import source_class

log = structlog.get_logger("scimgw.hooks")

#: The largest event body read; a hire event is well under 2 KiB.
MAX_BODY = 64 * 1024
#: Attempts of an event before it fails for good (transient failures only retry).
MAX_ATTEMPTS = 10
#: The longest wait between two attempts of one event.
MAX_RETRY_SECONDS = 3600.0
#: How often the processor looks for events recorded by other processes, or due again.
POLL_SECONDS = 2.0
#: The wait when the connection is running (a sync, another event): soon.
BUSY_RETRY_SECONDS = 3.0
#: How long a processed (done or failed) event is kept: its row is ``scimgw hooks``'
#: history, and the window in which the same hire sent again is known as a duplicate
#: (sent after it, it is processed again, which changes nothing: the person is linked).
KEEP_PROCESSED = timedelta(days=90)
#: How often a processor deletes the processed events older than that.
PURGE_EVERY = timedelta(hours=1)


#: The answer to a wrong or missing secret, and to an address that takes no webhook.
WRONG_SECRET = "missing or wrong webhook secret"


class HookRefused(Exception):
    """The event is refused: ``status`` is the HTTP answer, ``message`` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Receipt:
    """What became of an event: ``accepted`` (recorded, ``id``), ``duplicate``, ``ignored``."""

    status: str
    id: int | None = None


def receive(
    engine: Engine,
    config: GatewayConfig,
    tenant: str,
    name: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
) -> Receipt:
    """Check and record one event (blocking: call it in a worker thread).

    Raises:
        HookRefused: 401 wrong or missing secret, or no webhook at that address; 400 a
            body that is not an event of the source's contract.
    """
    found = _webhook(config, tenant, name)
    if found is None:
        # Answered as a wrong secret is: a caller cannot map tenants and connections.
        log.info("hook.no_webhook", tenant=tenant[:100], connection=name[:100])
        raise HookRefused(401, WRONG_SECRET)
    source, expected, header = found
    if not inbound.secret_matches(expected, headers.get(header)):
        raise HookRefused(401, WRONG_SECRET)
    event = _event(source, body)
    if event is None:
        return Receipt("ignored")
    with writer(engine).begin() as conn:
        event_id = hooks.record(
            conn,
            tenant=tenant,
            connection=name,
            subject=event.subject,
            job=event.job,
            hints=event.hints,
            now=now,
        )
    return Receipt("duplicate") if event_id is None else Receipt("accepted", event_id)


def _webhook(config: GatewayConfig, tenant: str, name: str) -> tuple[Any, str, str] | None:
    """The source class, secret and secret header of a connection taking webhooks."""
    found = config.tenants.get(tenant)
    settings = None if found is None else found.connections.get(name)
    if settings is None or settings.direction not in ("source", "both"):
        return None
    try:
        source = source_class(settings.type)
        options = source.options_model.model_validate(dict(settings.options))
    except (ValueError, ValidationError):
        return None
    secret = getattr(options, "webhook_secret", None)
    if secret is None or not hasattr(source, "hook_event"):
        return None
    return source, secret.get_secret_value(), options.webhook_header


def _event(source: Any, body: bytes) -> inbound.InboundEvent | None:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # orjson stops at 1,024 levels
            raise HookRefused(400, "the body is nested too deeply to be an event") from None
        raise HookRefused(400, "the body is not JSON") from None
    try:
        event: inbound.InboundEvent | None = source.hook_event(parsed)
    except ValueError as exc:
        raise HookRefused(400, f"not a {source.type} event: {exc}") from None
    return event


class HookProcessor:
    """Applies recorded events, oldest first, one at a time (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        config: GatewayConfig,
        runner: ArrivalRunner | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.runner = runner or ArrivalRunner(engine, config)
        self.clock = clock
        #: Set by the endpoint of this process when it records an event: process at once.
        self.wake = asyncio.Event()
        self._purged_at: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Process events until ``stop`` is set; a failure is logged, never fatal."""
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.drain()
            except Exception:  # the store was away: try again at the next poll
                log.exception("hook_events.drain_failed")
            waits = [asyncio.ensure_future(e.wait()) for e in (self.wake, stop)]
            await asyncio.wait(waits, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()

    async def drain(self) -> int:
        """Process every event due now; how many were processed. At most once every
        :data:`PURGE_EVERY`, delete the events processed over :data:`KEEP_PROCESSED` ago."""
        done = 0
        while batch := await asyncio.to_thread(self._claim):
            for event in batch:
                await self._process(event)
                done += 1
        await self._purge_if_due()
        return done

    async def _purge_if_due(self) -> None:
        now = self.clock()
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = now
        while await asyncio.to_thread(self._purge, now - KEEP_PROCESSED):
            pass  # batches of 1,000, each its own short transaction

    def _purge(self, before: datetime) -> int:
        with writer(self.engine).begin() as conn:
            return hooks.purge(conn, before)

    def _claim(self) -> list[hooks.Event]:
        with writer(self.engine).begin() as conn:
            return hooks.claim_due(conn, self.clock())

    async def _process(self, event: hooks.Event) -> None:
        request = runs.RunRequest(event.tenant_id, event.connection, "event")
        try:
            arrival = await self.runner(request, event.subject, event.hints)
        except runs.RunInProgress:
            await self._settle(event, hooks.PENDING, retry=BUSY_RETRY_SECONDS, refund=True)
            return
        except ValueError as exc:  # the connection left the configuration
            await self._settle(event, hooks.FAILED, message=str(exc))
            return
        outcome = arrival.outcome
        if outcome.status == "succeeded":
            status, retry = hooks.DONE, None
        elif arrival.retry_after is not None and event.attempts < MAX_ATTEMPTS:
            status, retry = hooks.PENDING, min(arrival.retry_after, MAX_RETRY_SECONDS)
        else:
            status, retry = hooks.FAILED, None
        message = outcome.message or "; ".join(f.reason for f in outcome.failures) or None
        log.info(
            "hook_event.processed",
            hook_event=event.id,
            connection=event.connection,
            status=status,
            run=outcome.run_id,
        )
        await self._settle(event, status, retry=retry, run_id=outcome.run_id, message=message)

    async def _settle(
        self,
        event: hooks.Event,
        status: str,
        *,
        retry: float | None = None,
        run_id: str | None = None,
        message: str | None = None,
        refund: bool = False,
    ) -> None:
        now = self.clock()
        retry_at = None if retry is None else now + timedelta(seconds=retry)
        settle = partial(
            hooks.settle,
            event_id=event.id,
            status=status,
            now=now,
            run_id=run_id,
            message=message,
            retry_at=retry_at,
            refund=refund,
        )
        await asyncio.to_thread(self._write, settle)

    def _write(self, settle: Callable[..., None]) -> None:
        with writer(self.engine).begin() as conn:
            settle(conn)
