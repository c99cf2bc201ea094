"""The answers kept under clients' Idempotency-Keys.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

token_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("granted_at", sa.Double(), nullable=True),
        sa.Column("lease_id", sa.String(36), nullable=True),
        sa.Column("lease_token", token_type, nullable=True),
        sa.Column("lease_duration", sa.Double(), nullable=True),
        sa.Column("problem", sa.JSON(), nullable=True),
        sa.Column("expires_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
