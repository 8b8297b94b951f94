"""The statements of the returns function (payments.returns): the payment's lock, the mirror
of Stripe's refunds and disputes (observations only move them forward), the totals and their
compare-and-set update."""

from __future__ import annotations

from sqlalchemy import text

from medgrader.db.session import no_rows
from medgrader.payments.observations import DISPUTE_STATUS_RANK, REFUND_STATUS_RANK
from medgrader.payments.rules import LOST, counted_refund, open_dispute


def _rank_sql(column: str, ranks: dict[str, int], unknown: int) -> str:
    cases = " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in ranks.items())
    return f"(CASE {column} {cases} ELSE {unknown} END)"


PAYMENT_COLUMNS = """id, student_id, amount_pence, currency, credits, status,
    amount_refunded_pence, amount_disputed_pence, credits_clawed_back, returns_version,
    stripe_payment_intent_id, stripe_charge_id"""
LOCK_BY_ID = text(f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = :id FOR UPDATE")  # noqa: S608
LOCK_BY_INTENT = text(
    f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE stripe_payment_intent_id = :pi FOR UPDATE"  # noqa: S608
)

# The actor is kept only if it names an administrator: it comes back from Stripe's metadata.
UPSERT_REFUND = text(
    f"""
    INSERT INTO refunds AS r (stripe_refund_id, payment_id, student_id, amount_pence, currency,
                              status, reason, note, failure_reason, actor_id, stripe_created_at,
                              succeeded_at)
    VALUES (:stripe_id, :payment_id, :student_id, :amount, :currency, :status, :reason, :note,
            :failure_reason,
            (SELECT id FROM users WHERE id = CAST(:actor AS uuid) AND is_admin), :created,
            CASE WHEN :succeeded THEN now() END)
    ON CONFLICT (stripe_refund_id) DO UPDATE SET
        -- Once seen succeeded, always: its credit note is due (and a debit note if it fails).
        succeeded_at = COALESCE(r.succeeded_at, EXCLUDED.succeeded_at),
        status = CASE WHEN {_rank_sql("EXCLUDED.status", REFUND_STATUS_RANK, -1)}
                         > {_rank_sql("r.status", REFUND_STATUS_RANK, -1)}
                      THEN EXCLUDED.status ELSE r.status END,
        failure_reason = COALESCE(EXCLUDED.failure_reason, r.failure_reason),
        reason = COALESCE(r.reason, EXCLUDED.reason),
        note = COALESCE(r.note, EXCLUDED.note),
        actor_id = COALESCE(r.actor_id, EXCLUDED.actor_id),
        updated_at = now()
    RETURNING id, (xmax = 0) AS inserted, actor_id, credits_clawed_back
    """  # noqa: S608 - only constant CASE expressions are interpolated
)
# Status moves forward only; the withdrawn amount follows the observation that has seen the
# most balance transactions (each withdrawal or reinstatement adds one).
UPSERT_DISPUTE = no_rows(
    text(
        f"""
    INSERT INTO disputes AS d (stripe_dispute_id, payment_id, student_id, amount_pence, currency,
                               status, reason, funds_withdrawn_pence, balance_transaction_count,
                               stripe_created_at)
    VALUES (:stripe_id, :payment_id, :student_id, :amount, :currency, :status, :reason,
            :withdrawn, :bt_count, :created)
    ON CONFLICT (stripe_dispute_id) DO UPDATE SET
        status = CASE WHEN {_rank_sql("EXCLUDED.status", DISPUTE_STATUS_RANK, 4)}
                         > {_rank_sql("d.status", DISPUTE_STATUS_RANK, 4)}
                      THEN EXCLUDED.status ELSE d.status END,
        funds_withdrawn_pence = CASE WHEN EXCLUDED.balance_transaction_count
                                          >= d.balance_transaction_count
                                     THEN EXCLUDED.funds_withdrawn_pence
                                     ELSE d.funds_withdrawn_pence END,
        balance_transaction_count = GREATEST(d.balance_transaction_count,
                                             EXCLUDED.balance_transaction_count),
        amount_pence = EXCLUDED.amount_pence,
        updated_at = now()
    """  # noqa: S608 - only constant CASE expressions are interpolated
    )
)
# The totals by the rules (payments.rules), and what the newest dispute says of the status.
TOTALS = text(
    f"""
    WITH latest AS (
        SELECT status FROM disputes WHERE payment_id = :id
         ORDER BY stripe_created_at DESC, id DESC LIMIT 1
    )
    SELECT COALESCE((SELECT SUM(amount_pence) FROM refunds
                      WHERE payment_id = :id AND {counted_refund()}), 0) AS refunded,
           COALESCE((SELECT SUM(funds_withdrawn_pence) FROM disputes
                      WHERE payment_id = :id AND status <> 'won'), 0) AS disputed,
           COALESCE((SELECT {open_dispute()} FROM latest), false) AS dispute_open,
           COALESCE((SELECT status = '{LOST}' FROM latest), false) AS dispute_lost
    """  # noqa: S608 - only the constant rules are interpolated
)
UPDATE_TOTALS = text(
    """
    UPDATE payments
       SET amount_refunded_pence = :refunded, amount_disputed_pence = :disputed,
           credits_clawed_back = :target, status = :status, returns_version = :version + 1,
           stripe_charge_id = COALESCE(stripe_charge_id, :charge), updated_at = now()
     WHERE id = :id AND returns_version = :version
    RETURNING returns_version
    """
)
SET_SHARE = no_rows(
    text(
        "UPDATE refunds SET credits_clawed_back = :share WHERE id = :id AND credits_clawed_back = 0"
    )
)
