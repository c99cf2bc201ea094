"""Per-limit counts of granted slots and expired leases, kept by every server process alike.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("limits") as limits:
        limits.add_column(sa.Column("granted_slots", sa.BigInteger(), nullable=False, server_default="0"))
        limits.add_column(sa.Column("expired_leases", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("limits") as limits:
        limits.drop_column("expired_leases")
        limits.drop_column("granted_slots")
