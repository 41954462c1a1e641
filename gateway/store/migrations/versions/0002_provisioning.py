"""provisioning: outbox leases, account links, deliveries, audit, connection state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", _text(length=80), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", _time(), nullable=True))
        batch_op.add_column(sa.Column("last_error", _text(length=600), nullable=True))
        batch_op.add_column(sa.Column("finished", _time(), nullable=True))
        batch_op.create_index(
            "ix_outbox_claim", ["tenant_id", "connection", "status", "priority", "id"]
        )

    op.create_table(
        "account_link",
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("connection", _text(length=100), nullable=False),
        sa.Column("resource_type", _text(length=10), nullable=False),
        sa.Column("resource_id", _text(length=36), nullable=False),
        sa.Column("remote_id", _text(length=300), nullable=True),
        sa.Column("state", _text(length=12), nullable=False),
        sa.Column("payload_hash", _text(length=64), nullable=True),
        sa.Column("created", _time(), nullable=False),
        sa.Column("updated", _time(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "connection", "resource_type", "resource_id"),
    )
    op.create_index(
        "ix_account_link_remote", "account_link", ["tenant_id", "connection", "remote_id"]
    )

    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("connection", _text(length=100), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("resource_type", _text(length=10), nullable=False),
        sa.Column("resource_id", _text(length=36), nullable=False),
        sa.Column("operation", _text(length=12), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", _text(length=12), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("remote_id", _text(length=300), nullable=True),
        sa.Column("error", _text(length=600), nullable=True),
        sa.Column("at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_delivery_connection", "delivery", ["tenant_id", "connection", "at"])
    op.create_index("ix_delivery_resource", "delivery", ["tenant_id", "resource_id"])

    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("connection", _text(length=100), nullable=True),
        sa.Column("actor", _text(length=100), nullable=False),
        sa.Column("action", _text(length=40), nullable=False),
        sa.Column("resource_id", _text(length=36), nullable=True),
        sa.Column("detail", _text(length=1000), nullable=True),
        sa.Column("at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_connection", "audit", ["tenant_id", "connection", "at"])

    op.create_table(
        "connection_state",
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("connection", _text(length=100), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("reason", _text(length=600), nullable=True),
        sa.Column("paused_at", _time(), nullable=True),
        sa.Column("confirmed_until", _time(), nullable=True),
        sa.Column("exported_active", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "connection"),
    )


def downgrade() -> None:
    op.drop_table("connection_state")
    op.drop_index("ix_audit_connection", table_name="audit")
    op.drop_table("audit")
    op.drop_index("ix_delivery_resource", table_name="delivery")
    op.drop_index("ix_delivery_connection", table_name="delivery")
    op.drop_table("delivery")
    op.drop_index("ix_account_link_remote", table_name="account_link")
    op.drop_table("account_link")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_claim")
        batch_op.drop_column("finished")
        batch_op.drop_column("last_error")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
