"""The queue of waiting requests, shared by every server process.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

token_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "server_processes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("seen_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "queue_places",
        sa.Column("position", token_type, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(64), nullable=True),
        sa.Column("key", sa.String(255), nullable=True),
        sa.Column("arrived_at", sa.Double(), nullable=False),
        sa.Column("process", sa.String(36), nullable=False),
        sa.Column("parked_until", sa.Double(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_queue_places_key", "queue_places", ["scope", "key"], unique=True)
    op.create_table(
        "queue_place_limits",
        sa.Column("place", token_type, sa.ForeignKey("queue_places.position", ondelete="CASCADE"), primary_key=True),
        sa.Column("limit_id", sa.String(36), sa.ForeignKey("limits.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_queue_place_limits_limit", "queue_place_limits", ["limit_id", "place"])


def downgrade() -> None:
    op.drop_table("queue_place_limits")
    op.drop_table("queue_places")
    op.drop_table("server_processes")
