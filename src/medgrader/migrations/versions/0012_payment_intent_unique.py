"""payments: one Payment per Stripe payment intent (stripe_payment_intent_id UNIQUE)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

Automatic top-ups and subscription invoices create payments from payment intents directly, so
the intent, not only the Checkout Session, must name at most one Payment: a database rule,
not a read-then-write. Rows already breaking it are never deleted or merged here (each carries
ledger entries and refunds): the migration lists them and stops, for a person to decide.
The table is locked against writes (SHARE: reads go on) from the check to the constraint, so
no duplicate can slip in between; payments are few and written only by fulfilment.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from medgrader.db.migrate import MigrationRefused

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DUPLICATES = sa.text(
    """
    SELECT stripe_payment_intent_id AS intent,
           string_agg(id::text || ' (' || stripe_checkout_session_id || ')', ', '
                      ORDER BY created_at, id) AS payments
      FROM payments
     WHERE stripe_payment_intent_id IS NOT NULL
     GROUP BY stripe_payment_intent_id
    HAVING count(*) > 1
     ORDER BY stripe_payment_intent_id
    """
)


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("LOCK TABLE payments IN SHARE MODE"))
    duplicates = bind.execute(_DUPLICATES).all()
    if duplicates:
        listed = "\n".join(f"  {row.intent}: payments {row.payments}" for row in duplicates)
        raise MigrationRefused(
            f"payments.stripe_payment_intent_id cannot become UNIQUE: {len(duplicates)} payment "
            f"intent(s) have more than one payment (payment id, checkout session):\n{listed}\n"
            "Nothing was changed. Decide which payment each intent belongs to (clear "
            "stripe_payment_intent_id on the others), then run the migration again."
        )
    op.drop_index(op.f("ix_payments_stripe_payment_intent_id"), table_name="payments")
    op.create_unique_constraint(
        op.f("uq_payments_stripe_payment_intent_id"), "payments", ["stripe_payment_intent_id"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("uq_payments_stripe_payment_intent_id"), "payments", type_="unique")
    op.create_index(
        op.f("ix_payments_stripe_payment_intent_id"), "payments", ["stripe_payment_intent_id"]
    )
