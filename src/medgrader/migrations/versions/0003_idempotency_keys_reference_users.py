"""idempotency keys reference users, not the hot student_profiles row

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

A foreign key makes every key insert take a KEY SHARE lock on the referenced row. Pointing at
student_profiles put that lock on the very row every spend updates, so concurrent spends on
one account turned its balance tuple into a MultiXact of lockers (pgbench, 32 clients, one
account: about half the throughput). users(id) is the same id and is never hot; the spend's
claim statement still inserts a key only for an existing student profile.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(
        "fk_idempotency_keys_student_id_student_profiles", "idempotency_keys", type_="foreignkey"
    )
    op.create_foreign_key(
        "fk_idempotency_keys_student_id_users", "idempotency_keys", "users", ["student_id"], ["id"]
    )


def downgrade() -> None:
    op.drop_constraint(
        "fk_idempotency_keys_student_id_users", "idempotency_keys", type_="foreignkey"
    )
    op.create_foreign_key(
        "fk_idempotency_keys_student_id_student_profiles",
        "idempotency_keys",
        "student_profiles",
        ["student_id"],
        ["user_id"],
    )
