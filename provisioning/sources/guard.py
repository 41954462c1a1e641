"""The mass-change guard of a source run: hold the deactivations a broken feed would cause.

The engine's guard (provisioning.records.guard) pauses a *target* that would deprovision
too many accounts; this one stops the cause upstream. A source that suddenly returns no
one, or whose run would deactivate more people than the connection allows, keeps its
deactivations back (creates and updates still apply) and ends ``held`` until an admin
confirms with ``scimgw sync <connection> --confirm``, which lets the next hour's runs go.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa

from gateway.config import SourceGuard
from provisioning.sources import links

#: How long a confirmation lets a source's runs deactivate beyond the limits.
CONFIRMATION = timedelta(hours=1)


def hold_reason(
    rules: SourceGuard, *, read: int, linked_active: int, deactivations: int, full: bool
) -> str | None:
    """Why this run's deactivations must wait for a confirmation, or None."""
    if full and read == 0 and linked_active > 0:
        return f"the source returned no one while {linked_active} linked people are active"
    if deactivations > rules.max_count:
        return (
            f"the run would deactivate {deactivations} people, above the limit of {rules.max_count}"
        )
    share = deactivations / linked_active if linked_active else 0.0
    if linked_active >= rules.min_linked and share > rules.max_share:
        return (
            f"the run would deactivate {deactivations} of {linked_active} active people "
            f"({share:.0%}), above the limit of {rules.max_share:.0%}"
        )
    return None


def confirmed(until: datetime | None, now: datetime) -> bool:
    """Whether an admin's confirmation still covers ``now``."""
    if until is None:
        return False
    if until.tzinfo is None:  # SQLite hands back naive datetimes; the store writes UTC
        until = until.replace(tzinfo=now.tzinfo)
    return now < until


def confirm(connection: sa.Connection, tenant: str, name: str, now: datetime) -> datetime:
    """Let the source's held deactivations go for the next hour; returns until when."""
    until = now + CONFIRMATION
    links.remember(connection, tenant, name, confirmed_until=until)
    return until
