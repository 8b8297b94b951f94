"""idempotency keys are scoped by operation: primary key (student_id, operation, key)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

A student's spend keys and the admin adjustment keys for that student shared one key space
(primary key (student_id, key)), so the same key string used for both gave a spurious 409.
Each operation now has its own key space. The stored columns and values do not change: every
row already names its operation, and (student_id, key) unique implies (student_id, operation,
key) unique, so existing rows stay valid and keep replaying and expiring as before. The ledger
entries' own idempotency keys were already per operation ("spend:..." / "adjust:...").

Downgrade: rows that would collide under the old key keep only the oldest one per
(student_id, key). That is what retention does to a key anyway: the ledger entry it produced
still carries its UNIQUE key and request hash, so a late retry is still judged (and never
charged twice); only a recorded refusal of the dropped row is forgotten.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("pk_idempotency_keys", "idempotency_keys", type_="primary")
    op.create_primary_key(
        "pk_idempotency_keys", "idempotency_keys", ["student_id", "operation", "key"]
    )


def downgrade() -> None:
    op.execute(
        """
        DELETE FROM idempotency_keys k
         WHERE EXISTS (
               SELECT 1 FROM idempotency_keys older
                WHERE older.student_id = k.student_id AND older.key = k.key
                  AND (older.created_at, older.operation) < (k.created_at, k.operation))
        """
    )
    op.drop_constraint("pk_idempotency_keys", "idempotency_keys", type_="primary")
    op.create_primary_key("pk_idempotency_keys", "idempotency_keys", ["student_id", "key"])
