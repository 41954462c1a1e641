"""bulk upload results: the outcome of each POST /scim/v2/bulkUpload, read at its Location

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "bulk_upload_result",
        sa.Column("id", _text(length=36), nullable=False),
        sa.Column("tenant_id", _text(length=64), nullable=False),
        sa.Column("caller", _text(length=100), nullable=False),
        sa.Column("received", _time(), nullable=False),
        sa.Column("completed", _time(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("operations", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_bulk_upload_result_received", "bulk_upload_result", ["tenant_id", "received"]
    )


def downgrade() -> None:
    op.drop_index("ix_bulk_upload_result_received", table_name="bulk_upload_result")
    op.drop_table("bulk_upload_result")
