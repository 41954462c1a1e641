"""resource counts: per tenant and resource type, kept by triggers, for totalResults

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

The triggers add to ``resource_count`` in the transaction of every insert and delete of
a User or Group row, whatever writes it (the service, a bulk load, an operator), so the
count is exact; the rows already there are counted once here. On PostgreSQL one trigger
per statement adds the rows of that statement (its transition table) to the stripe of
the connection (the backend's pid modulo STRIPES): concurrent writers on other
connections add to other rows, and one transaction only ever locks one stripe of a type.
SQLite has one writer at a time and row triggers only: one stripe, one row per change.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_text = sqlmodel.sql.sqltypes.AutoString

#: Counted tables and the resource type their rows are.
COUNTED = {"scim_user": "User", "scim_group": "Group"}
STRIPES = 16

_POSTGRES_FUNCTION = f"""
CREATE FUNCTION resource_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO resource_count AS c (tenant_id, resource_type, stripe, n)
    SELECT tenant_id, TG_ARGV[0], pg_backend_pid() % {STRIPES},
           CASE WHEN TG_OP = 'INSERT' THEN count(*) ELSE -count(*) END
    FROM changed_rows GROUP BY tenant_id ORDER BY tenant_id
    ON CONFLICT (tenant_id, resource_type, stripe) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$
"""

_POSTGRES_TRIGGER = """
CREATE TRIGGER {name} AFTER {event} ON {table}
REFERENCING {transition} TABLE AS changed_rows
FOR EACH STATEMENT EXECUTE FUNCTION resource_count_change('{kind}')
"""

_SQLITE_TRIGGER = """
CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN
    INSERT INTO resource_count (tenant_id, resource_type, stripe, n)
    VALUES ({row}.tenant_id, '{kind}', 0, {delta})
    ON CONFLICT (tenant_id, resource_type, stripe) DO UPDATE SET n = n + excluded.n;
END
"""

#: Per event: the transition table (PostgreSQL), the row (SQLite) and the change.
_EVENTS = {"insert": ("NEW", "NEW", 1), "delete": ("OLD", "OLD", -1)}


def upgrade() -> None:
    op.create_table(
        "resource_count",
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("resource_type", _text(length=20), nullable=False),
        sa.Column("stripe", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "resource_type", "stripe"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(_POSTGRES_FUNCTION)
    for table, kind in COUNTED.items():
        # Counted before the triggers exist; a migration runs with the writers stopped.
        op.execute(
            f"INSERT INTO resource_count (tenant_id, resource_type, stripe, n)"
            f" SELECT tenant_id, '{kind}', 0, count(*) FROM {table} GROUP BY tenant_id"
        )
        for event, (transition, row, delta) in _EVENTS.items():
            template = _POSTGRES_TRIGGER if postgres else _SQLITE_TRIGGER
            name = f"{table}_{event}_counted"
            values = {"transition": transition, "row": row, "kind": kind, "delta": delta}
            op.execute(template.format(name=name, event=event.upper(), table=table, **values))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in COUNTED:
        for event in _EVENTS:
            on = f" ON {table}" if postgres else ""
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_counted{on}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS resource_count_change()")
    op.drop_table("resource_count")
