"""sign in with Google: users.google_sub, and a password is optional

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-01

users.google_sub links the Google account (its stable `sub` claim) to a user, UNIQUE so one
Google account can never be linked to two users, even when two first sign-ins race. An account
created by Google sign-in has no password (password_hash NULL) and password login refuses it.

Downgrade: Google-only users get an unusable password hash (no password matches it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("google_sub", sa.String(255), nullable=True))
    op.create_unique_constraint("uq_users_google_sub", "users", ["google_sub"])
    op.alter_column("users", "password_hash", existing_type=sa.String(255), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE users SET password_hash = '!' WHERE password_hash IS NULL")
    op.alter_column("users", "password_hash", existing_type=sa.String(255), nullable=False)
    op.drop_constraint("uq_users_google_sub", "users", type_="unique")
    op.drop_column("users", "google_sub")
