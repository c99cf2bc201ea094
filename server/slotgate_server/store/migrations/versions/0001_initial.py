"""Limits, leases and the limits each lease counts against.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

token_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "limits",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("slot_limit", sa.Integer(), nullable=False),
        sa.Column("slot_decay_per_second", sa.Double(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("occupied", sa.Double(), nullable=False),
        sa.Column("occupied_at", sa.Double(), nullable=False),
        sa.Column("denied_slots", sa.BigInteger(), nullable=False),
        sa.Column("avg_occupancy_seconds", sa.Double(), nullable=True),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("updated", sa.Double(), nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("fencing_token", token_type, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("lease_duration", sa.Double(), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("end_reason", sa.String(16), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_leases_open_expiry", "leases", ["ended_at", "expires_at"])
    op.create_table(
        "lease_limits",
        sa.Column(
            "lease_token",
            token_type,
            sa.ForeignKey("leases.fencing_token", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("limit_id", sa.String(36), sa.ForeignKey("limits.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("slots", sa.Integer(), nullable=False),
    )
    op.create_index("ix_lease_limits_limit_id", "lease_limits", ["limit_id"])


def downgrade() -> None:
    op.drop_table("lease_limits")
    op.drop_table("leases")
    op.drop_table("limits")
