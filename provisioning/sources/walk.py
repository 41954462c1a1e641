"""One run's walk over the people: map each record, apply who changed in small batches,
keep deactivations for the guard, then settle leavers and managers named later.

:class:`~provisioning.sources.runner.SourceRunner` starts a walk per run;
:mod:`provisioning.sources.arrivals` walks one person at a time.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from gateway.config import SourceSettings
from provisioning.records import runs
from provisioning.sources import guard
from provisioning.sources.apply import DELETED, Applied, Applier, ApplyFailed
from provisioning.sources.links import Link
from provisioning.sources.people import Person, PersonMapper, RecordError

if TYPE_CHECKING:
    from provisioning.sources.runner import SourceRunner

#: People applied per trip to the worker thread: the loop stays free between batches.
BATCH = 50
#: Records mapped between two yields to the event loop (about 85 µs of CPU each).
YIELD_EVERY = 50
#: Lines of ``RunOutcome.changes`` kept; the rest is counted in one last line.
MAX_CHANGES = 10_000


@dataclass
class Tally:
    """What a run counted, failed on and would change, as it goes."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(runs.COUNTS, 0))
    failures: list[runs.Failure] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    def fail(self, person: str, reason: str) -> None:
        self.counts["failed"] += 1
        if len(self.failures) < 1000:
            self.failures.append(runs.Failure(person, reason))

    def applied(self, result: Applied) -> None:
        self.counts["deactivated" if result.effect == DELETED else result.effect] += 1
        if result.line is not None:
            if len(self.changes) < MAX_CHANGES:
                self.changes.append(result.line)
            else:
                self.counts.setdefault("_more", 0)
                self.counts["_more"] += 1

    def report(self) -> tuple[str, ...]:
        more = self.counts.pop("_more", 0)
        return (*self.changes, f"... and {more} more") if more else tuple(self.changes)


@dataclass
class Leave:
    """A deactivation kept for the guard: a leaver, or a person the source ended."""

    source_id: str
    link: Link
    person: Person | None = None


class Walk:
    """One run's walk over the people: apply changes, keep deactivations for the guard."""

    def __init__(
        self,
        runner: "SourceRunner",
        applier: Applier,
        mapper: PersonMapper,
        known: dict[str, Link],
        tally: Tally,
        now: datetime,
    ) -> None:
        self.runner = runner
        self.applier = applier
        self.mapper = mapper
        self.known = known
        self.tally = tally
        self.today = now.date()
        self.seen: set[str] = set()
        self.gone: set[str] = set()  # deleted, as an incremental read's source says
        self.leaving: list[Leave] = []
        self.waiting: list[Person] = []  # people whose manager comes later in the run
        self.batch: list[Person] = []

    async def read(self, pages: AsyncIterator[Any], progress: runs.Progress | None) -> str | None:
        """Walk every page; return the source's checkpoint (of the first page)."""
        checkpoint = None
        first = True
        async for page in pages:
            if first:
                checkpoint, first = page.checkpoint, False
            self.gone.update(page.gone)
            for index, record in enumerate(page.records, 1):
                self.tally.counts["read"] += 1
                self._consider(record)
                if len(self.batch) >= BATCH:
                    await self._flush()
                elif index % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # mapping is CPU: let the loop serve others
            if progress is not None:
                progress(self.tally.counts["read"], None)
        await self._flush()
        return checkpoint

    def _consider(self, record: Any) -> None:
        try:
            person = self.mapper.person(record, self.today)
        except RecordError as exc:
            self.tally.fail(exc.person, exc.reason)
            return
        if person.source_id in self.seen:
            self.tally.fail(person.source_id, "the source returned this person twice")
            return
        self.seen.add(person.source_id)
        link = self.known.get(person.source_id)
        if person.skipped:
            self.tally.counts["skipped"] += 1
            if link is not None and link.active:
                self.leaving.append(Leave(person.source_id, link))
        elif link is not None and link.digest == person.digest:
            self.tally.counts["unchanged"] += 1
        elif link is not None and link.active and not person.active:
            self.leaving.append(Leave(person.source_id, link, person))
        else:
            self.batch.append(person)

    async def _flush(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            await self.runner._thread(self._apply_people, batch)

    def _apply_people(self, people: list[Person]) -> None:
        with self.applier.batch():
            self._each_person(people)

    def _each_person(self, people: list[Person]) -> None:
        for person in people:
            manager = self._manager(person)
            self._apply(
                person.source_id,
                self.applier.person,
                person,
                self.known.get(person.source_id),
                manager,
            )
            if person.manager_id is not None and manager is None:
                self.waiting.append(person)

    def _apply(
        self, source_id: str, method: Callable[..., Applied], *args: Any, count: bool = True
    ) -> None:
        """Apply one person (or leaver); a failure is the run's, named by the source id.

        ``count=False`` for a second step of a person already counted (naming a manager).
        """
        try:
            result = method(*args)
        except ApplyFailed as exc:
            self.tally.fail(exc.person or source_id, exc.reason)
            return
        if result.link is not None:
            self.known[source_id] = result.link
        else:
            self.known.pop(source_id, None)
        if count:
            self.tally.applied(result)

    def _manager(self, person: Person) -> str | None:
        if person.manager_id is None:
            return None
        link = self.known.get(person.manager_id)
        return None if link is None else link.user_id

    async def due_days(self) -> None:
        """An incremental run reads only changes: apply the days that came (joiners'
        first days, the day after leavers' last) from the links."""
        due = [
            (source_id, link)
            for source_id, link in self.known.items()
            if link.due is not None and link.due <= self.today.isoformat()
        ]
        for source_id, link in due:
            if link.due_active:
                await self.runner._thread(
                    self._apply, source_id, self.applier.access, source_id, link, True
                )
            else:
                self.leaving.append(Leave(source_id, link))

    async def settle(
        self, source: SourceSettings, *, full: bool, request: runs.RunRequest
    ) -> str | None:
        """Apply the kept deactivations unless the guard holds them; return why it held."""
        if source.on_leave != "keep":  # a source that only brings people in
            # A full read's absentees have left; an incremental read knows only those the
            # source reports deleted.
            absent = (
                self.known if full else {i: self.known[i] for i in self.gone if i in self.known}
            )
            kept = self.seen | {leave.source_id for leave in self.leaving}
            for source_id, link in absent.items():
                if source_id not in kept and (link.active or source.on_leave == "delete"):
                    self.leaving.append(Leave(source_id, link))
        active = sum(1 for link in self.known.values() if link.active)
        reason = guard.hold_reason(
            source.guard,
            read=self.tally.counts["read"],
            linked_active=active,
            deactivations=len(self.leaving),
            full=full,
        )
        if reason is not None and not await self.runner._thread(
            self.runner.confirmed, request.tenant, request.connection
        ):
            return f"held: {reason}; confirm with `scimgw sync {request.connection} --confirm`"
        for start_at in range(0, len(self.leaving), BATCH):
            chunk = self.leaving[start_at : start_at + BATCH]
            await self.runner._thread(self._leave, chunk, source.on_leave == "delete")
        return None

    def _leave(self, leaving: list[Leave], delete: bool) -> None:
        with self.applier.batch():
            self._each_leaver(leaving, delete)

    def _each_leaver(self, leaving: list[Leave], delete: bool) -> None:
        for leave in leaving:
            if leave.person is not None:  # the source ended them: apply the whole person
                manager = self._manager(leave.person)
                self._apply(leave.source_id, self.applier.person, leave.person, leave.link, manager)
            else:
                access = partial(self.applier.access, delete=delete)
                self._apply(leave.source_id, access, leave.source_id, leave.link, False)

    async def managers(self) -> None:
        """Name the managers who arrived after their reports in this run.

        Not in a dry run: the reports it created were rolled back, there is no one to name
        a manager of (its report says who is created, the manager included)."""
        if self.applier.dry_run:
            return
        for first in range(0, len(self.waiting), BATCH):
            await self.runner._thread(self._name_managers, self.waiting[first : first + BATCH])

    def _name_managers(self, people: list[Person]) -> None:
        with self.applier.batch():
            for person in people:
                manager = self._manager(person)
                link = self.known.get(person.source_id)
                if manager is not None and link is not None:
                    self._apply(
                        person.source_id,
                        self.applier.set_manager,
                        person,
                        link,
                        manager,
                        count=False,
                    )
