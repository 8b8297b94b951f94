"""the webhook inbox keeps the event as json text, not jsonb

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

jsonb refuses the escape \\u0000, which Stripe may legitimately send (a name typed on the
hosted page): such an event could never be stored, so every delivery of it failed. json keeps
the exact text Stripe signed and accepts it; nothing queries inside the payload.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE webhook_events ALTER COLUMN payload TYPE json USING payload::json")


def downgrade() -> None:
    op.execute("ALTER TABLE webhook_events ALTER COLUMN payload TYPE jsonb USING payload::jsonb")
