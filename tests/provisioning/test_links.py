"""Account links: what the mass-deletion guard counts."""

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from gateway.auth.tokens import ensure_tenant
from provisioning.records import links
from provisioning.records.links import Link, Placed

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_count_linked_counts_the_users_with_access_not_groups_nor_other_states(
    engine: Engine,
) -> None:
    """The guard's share is of the people a connection manages: a connection that also
    holds 50 groups must not let twice as many leavers through."""
    ensure_tenant(engine, "acme")
    placed = [
        Placed("acme", "lms", "User", Link("u1", "r1", links.ACTIVE, None)),
        Placed("acme", "lms", "User", Link("u2", "r2", links.ACTIVE, None)),
        Placed("acme", "lms", "User", Link("u3", "r3", links.INACTIVE, None)),
        Placed("acme", "lms", "User", Link("u4", None, links.CREATING, None)),
        Placed("acme", "lms", "Group", Link("g1", "rg1", links.ACTIVE, None)),
        Placed("acme", "other", "User", Link("u5", "r5", links.ACTIVE, None)),
    ]
    with engine.begin() as connection:
        links.save_all(connection, placed, AT)
        assert links.count_linked(connection, "acme", "lms") == 2
