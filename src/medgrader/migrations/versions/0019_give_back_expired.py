"""lots: credits given back to an already expired lot pay the debts first

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05

A failed refund or a won dispute gives credits back as lots of the expiry of those the
clawback took (migration 0013's `lots_give_back`), so a lot may be born past its expiry. The
debts were paid only from unexpired lots, so such a lot kept its credits free beside an open
debt, and the next settle of the student (every posting, the balance, the job) wrote an EXPIRY
entry taking the balance below zero, which the ledger's CHECK refuses: every posting of that
student failed from then on (found by the ledger model test with a controllable clock).

Now what comes back to an expired lot pays the student's debts first, as what a hold gives back
to an expired lot already does (`lots_return_hold`); the rest expires at the next settle. The
former function stays, renamed `lots_give_back_like_taken`, and the new `lots_give_back` calls
it, then pays. Downgrade puts the former back under its name.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GIVE_BACK = """
CREATE FUNCTION lots_give_back(p_entry credit_transactions) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    l record;
BEGIN
    PERFORM lots_give_back_like_taken(p_entry);
    -- Lots born past their expiry: their credits pay debts before they expire (the caller,
    -- lots_apply, then pays what is left from unexpired lots).
    FOR l IN SELECT id FROM credit_lots
              WHERE entry_id = p_entry.id AND expires_at <= now() ORDER BY seq LOOP
        PERFORM lots_pay_debts(p_entry.student_id, l.id);
    END LOOP;
END $$
"""


def upgrade() -> None:
    op.execute(
        "ALTER FUNCTION lots_give_back(credit_transactions) RENAME TO lots_give_back_like_taken"
    )
    op.execute(_GIVE_BACK)


def downgrade() -> None:
    op.execute("DROP FUNCTION lots_give_back(credit_transactions)")
    op.execute(
        "ALTER FUNCTION lots_give_back_like_taken(credit_transactions) RENAME TO lots_give_back"
    )
