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


# Plain ALTER TABLE on both stores (SQLite has dropped columns since 3.35): a batch operation
# would copy the table on SQLite, and dropping the old copy would cascade to the leases' links.


def upgrade() -> None:
    op.add_column("limits", sa.Column("granted_slots", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("limits", sa.Column("expired_leases", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("limits", "expired_leases")
    op.drop_column("limits", "granted_slots")
