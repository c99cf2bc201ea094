"""Until when requests may be waiting on the server for a limit's freed slots.

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
    op.add_column("limits", sa.Column("waited_until", sa.Double(), nullable=True))


def downgrade() -> None:
    op.drop_column("limits", "waited_until")
