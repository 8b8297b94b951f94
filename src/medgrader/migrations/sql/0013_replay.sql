-- Migration 0013's data step: today's ledgers turned into lots by replaying every entry in
-- order through the same rules as the writer (lots_apply). Purchases become PAID lots worth
-- what their payment was; the welcome bonus a GRANTED lot expiring :days after the migration
-- (never sooner); admin grants GRANTED lots that never expire; refunds and disputes take from
-- the purchase's own lot, then the spend order, then as debt; what was given back returns as
-- the lots it replaces. Active holds then reserve their credits in the spend order.
CREATE FUNCTION lots_replay(p_welcome_days integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    e credit_transactions;
    h record;
    v_pay record;
    v_free bigint;
BEGIN
    FOR e IN SELECT * FROM credit_transactions ORDER BY seq LOOP
        IF e.entry_type = 'CREDIT' AND e.source_type = 'PURCHASE' THEN
            SELECT amount_pence, currency INTO v_pay FROM payments
             WHERE stripe_checkout_session_id = e.source_id;
            IF NOT FOUND THEN
                SELECT amount_pence, currency INTO v_pay FROM checkout_sessions
                 WHERE stripe_session_id = e.source_id;
            END IF;
            PERFORM lots_apply(e, 'PAID', 'PURCHASE', NULL, 50,
                               COALESCE(v_pay.amount_pence, 0), COALESCE(v_pay.currency, 'GBP'),
                               NULL);
        ELSIF e.entry_type = 'CREDIT' AND e.source_type = 'WELCOME_BONUS' THEN
            PERFORM lots_apply(e, 'GRANTED', 'WELCOME_BONUS',
                               CASE WHEN p_welcome_days > 0
                                    THEN now() + p_welcome_days * INTERVAL '1 day' END,
                               50, NULL, NULL, NULL);
        ELSIF e.entry_type = 'CREDIT'
              AND e.source_type IN ('PROMOTION_BONUS', 'PROMOTION_CODE') THEN
            -- Revision 0015 (promotions) runs before this one: its credits are given lots of
            -- source PROMOTION with the expiry the grant recorded, but (like the welcome bonus)
            -- never sooner than WELCOME_BONUS_EXPIRES_DAYS after this migration.
            PERFORM lots_apply(e, 'GRANTED', 'PROMOTION',
                               CASE WHEN e.metadata->>'expires_at' IS NOT NULL
                                    THEN GREATEST((e.metadata->>'expires_at')::timestamptz,
                                                  now() + GREATEST(p_welcome_days, 0)
                                                          * INTERVAL '1 day') END,
                               50, NULL, NULL, NULL);
        ELSIF e.entry_type = 'CREDIT' AND e.source_type NOT IN ('REFUND', 'DISPUTE') THEN
            PERFORM lots_apply(e, 'GRANTED', 'ADMIN_GRANT', NULL, 50, NULL, NULL, NULL);
        ELSE
            PERFORM lots_apply(e, NULL, NULL, NULL, 50, NULL, NULL, NULL);
        END IF;
    END LOOP;
    UPDATE lot_movements m SET created_at = t.created_at
      FROM credit_transactions t WHERE t.id = m.entry_id;
    FOR h IN SELECT id, student_id, amount FROM credit_holds
              WHERE status = 'ACTIVE' ORDER BY seq LOOP
        SELECT COALESCE(SUM(remaining - reserved), 0) INTO v_free FROM credit_lots
         WHERE student_id = h.student_id AND (expires_at IS NULL OR expires_at > now());
        IF LEAST(h.amount, v_free) > 0 THEN
            PERFORM lots_reserve(h.id, h.student_id, LEAST(h.amount, v_free));
        END IF;
    END LOOP;
END $$;
