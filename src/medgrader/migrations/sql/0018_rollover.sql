-- Subscription rollover (migration 0018), THE rule in the writer: when lots_settle writes down
-- the expiry of a subscription period's lot (the PAID lot of source SUBSCRIPTION its invoice's
-- SUBSCRIPTION entry made), and that subscription is ACTIVE and not set to cancel at its
-- period's end and the plan the invoice paid for has rolloverMaxCredits > 0, then
-- min(free credits, rolloverMaxCredits) move into a new PAID lot of source ROLLOVER; the rest
-- expires as before. Like everything in 0013, it runs under the student's balance row lock.
--
-- The ledger shows it as two entries of source ROLLOVER, source_id 'lot:<period lot id>': a
-- DEBIT whose one ROLLOVER movement takes the credits (and their value share, lot_value_out:
-- the floor rule, rollover first, then the expiry of the rest) out of the period's lot, then a
-- CREDIT that makes the ROLLOVER lot of the same credits, worth exactly that movement's value,
-- with origin_movement_id = that movement. The balance ends where it was (balance = ledger sum);
-- every credit stays traceable (lot -> movement -> lot). Exactly once per lot: lots_settle's
-- `swept` under the lock, and the partial UNIQUE index (source_id, entry_type) WHERE
-- source_type = 'ROLLOVER' as the database's own guard.
--
-- Decisions (docs/ARCHITECTURE.md, "Subscriptions"):
-- * the subscription's state is what is committed when the expiry is written down (the job
--   runs every minute; every posting of the student settles first). A renewal that fails
--   after that does not undo the rollover: those credits were paid for by the period that
--   ended, and they expire with the next period anyway.
-- * the new lot expires at the end of the next period: the subscription's current_period_end
--   when it is later than the lot's expiry (the renewal is already known to us), else the
--   lot's expiry plus the plan's interval (the renewal's events have not arrived yet).
-- * only a period's own lot rolls over: a ROLLOVER lot does not roll over again (the issue's
--   "a period's lot"), nor does a lot a failed refund or a won dispute gave back.
-- * the cap is the plan the invoice paid for (its terms are frozen once subscribed).
CREATE FUNCTION lots_rollover(p_lot uuid, p_free bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_lot credit_lots;
    v_sub record;
    v_moved bigint;
    v_until timestamptz;
    v_debit credit_transactions;
    v_credit credit_transactions;
    v_movement lot_movements;
BEGIN
    IF p_free <= 0 THEN
        RETURN 0;
    END IF;
    SELECT * INTO v_lot FROM credit_lots WHERE id = p_lot;
    IF v_lot.kind <> 'PAID' OR v_lot.source <> 'SUBSCRIPTION' OR v_lot.expires_at IS NULL THEN
        RETURN 0;
    END IF;
    SELECT s.id AS subscription_id, s.current_period_end, p.id AS plan_id,
           p.rollover_max_credits, p.interval, i.stripe_invoice_id
      INTO v_sub
      FROM credit_transactions t
      JOIN subscription_invoices i
        ON i.stripe_invoice_id = t.source_id AND i.student_id = t.student_id
      JOIN subscriptions s ON s.id = i.subscription_id
      JOIN plans p ON p.id = i.plan_id
     WHERE t.id = v_lot.entry_id AND t.entry_type = 'CREDIT' AND t.source_type = 'SUBSCRIPTION'
       AND s.status = 'ACTIVE' AND NOT s.cancel_at_period_end AND p.rollover_max_credits > 0;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    v_moved := LEAST(p_free, v_sub.rollover_max_credits);
    v_until := CASE WHEN v_sub.current_period_end > v_lot.expires_at
                    THEN v_sub.current_period_end
                    ELSE v_lot.expires_at + CASE v_sub.interval WHEN 'year' THEN INTERVAL '1 year'
                                                                ELSE INTERVAL '1 month' END
               END;
    v_debit := ledger_write(v_lot.student_id, 'DEBIT', v_moved, -v_moved, 'ROLLOVER',
                            'lot:' || p_lot, v_moved || ' credits rolled over to the next period',
                            jsonb_build_object('lotId', p_lot::text, 'lotSource', v_lot.source,
                                               'subscriptionId', v_sub.subscription_id::text),
                            NULL, NULL);
    IF lots_take(v_lot.student_id, v_debit.id, 'ROLLOVER', v_moved, p_lot) <> v_moved THEN
        RAISE EXCEPTION 'lot % has fewer than % free credits to roll over', p_lot, v_moved;
    END IF;
    SELECT * INTO STRICT v_movement FROM lot_movements WHERE entry_id = v_debit.id;
    v_credit := ledger_write(v_lot.student_id, 'CREDIT', v_moved, v_moved, 'ROLLOVER',
                             'lot:' || p_lot, v_moved || ' credits rolled over from the last period',
                             jsonb_build_object('lotId', p_lot::text,
                                                'subscriptionId', v_sub.subscription_id::text,
                                                'planId', v_sub.plan_id::text,
                                                'stripeInvoiceId', v_sub.stripe_invoice_id,
                                                'rolloverMaxCredits', v_sub.rollover_max_credits,
                                                'freeAtExpiry', p_free,
                                                'expiresAt', v_until),
                             NULL, NULL);
    INSERT INTO credit_lots (student_id, entry_id, kind, source, amount, remaining, priority,
                             expires_at, value_minor, currency, origin_movement_id, created_at)
    VALUES (v_lot.student_id, v_credit.id, 'PAID', 'ROLLOVER', v_moved, v_moved, v_lot.priority,
            v_until, v_movement.value_minor, v_lot.currency, v_movement.id, v_credit.created_at);
    RETURN v_moved;
END $$;

-- 0013's lots_settle, with the rollover before the expiry of what is left.
CREATE OR REPLACE FUNCTION lots_settle(p_student uuid, OUT holds_expired integer,
                                       OUT lots_expired integer)
LANGUAGE plpgsql AS $$
DECLARE
    h record;
    l record;
    v_rolled bigint;
BEGIN
    holds_expired := 0;
    lots_expired := 0;
    PERFORM 1 FROM student_profiles WHERE user_id = p_student FOR NO KEY UPDATE;
    -- In a fixed order (the first to expire gives back first): beside a debt, the first hold
    -- to give credits back pays it, so the order decides the balance and must not be the
    -- rows' order.
    FOR h IN SELECT id FROM credit_holds
              WHERE student_id = p_student AND status = 'ACTIVE' AND expires_at <= now()
              ORDER BY expires_at, seq LOOP
        -- Checked again on the row as committed: a renewal committed while this waited for
        -- the row keeps its hold ACTIVE.
        UPDATE credit_holds SET status = 'EXPIRED', closed_at = expires_at, updated_at = now()
         WHERE id = h.id AND status = 'ACTIVE' AND expires_at <= now();
        IF FOUND THEN
            PERFORM lots_return_hold(h.id);
            holds_expired := holds_expired + 1;
        END IF;
    END LOOP;
    FOR l IN SELECT id, remaining - reserved AS free FROM credit_lots
              WHERE student_id = p_student AND expires_at <= now() AND NOT swept
              ORDER BY expires_at, seq LOOP
        IF l.free > 0 THEN
            -- A subscription period's lot first moves on what the plan lets roll over.
            v_rolled := lots_rollover(l.id, l.free);
            PERFORM lots_expire(l.id, l.free - v_rolled, 'lot:' || l.id);
            lots_expired := lots_expired + 1;
        END IF;
        -- Written down: the job looks no more (a hold giving credits back later expires them
        -- itself, lots_return_hold; they never roll over).
        UPDATE credit_lots SET swept = true WHERE id = l.id;
    END LOOP;
END $$;

-- 0013's lots_claw, with the purchase's rolled-over credits second: a refund of a subscription
-- period takes back from that period's own lot, then from what rolled over out of it, then
-- from the student's other lots in the spend order, then as a debt.
CREATE OR REPLACE FUNCTION lots_claw(p_entry credit_transactions) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_own uuid;
    v_next uuid;
    v_left bigint := p_entry.amount;
BEGIN
    v_own := (lots_purchase_lot(p_entry.source_id)).id;
    IF v_own IS NOT NULL THEN
        v_left := v_left - lots_take(p_entry.student_id, p_entry.id, 'CLAWBACK', v_left, v_own);
        FOR v_next IN SELECT n.id FROM lot_movements m JOIN credit_lots n
                                    ON n.origin_movement_id = m.id
                       WHERE m.lot_id = v_own AND m.kind = 'ROLLOVER'
                         AND (n.expires_at IS NULL OR n.expires_at > now()) LOOP
            EXIT WHEN v_left = 0;
            v_left := v_left - lots_take(p_entry.student_id, p_entry.id, 'CLAWBACK', v_left,
                                         v_next);
        END LOOP;
    END IF;
    v_left := v_left - lots_take(p_entry.student_id, p_entry.id, 'CLAWBACK', v_left);
    IF v_left > 0 THEN
        INSERT INTO credit_debts (student_id, entry_id, amount, remaining)
        VALUES (p_entry.student_id, p_entry.id, v_left, v_left);
    END IF;
END $$;
