-- Credit lots: the ledger's one writer (migration 0013). Every function below runs inside the
-- caller's transaction, after the student's balance row is locked (lots_settle takes it), so
-- lots, reservations and debts of one student change one transaction at a time: nothing here
-- takes row locks of its own or reads-then-writes across transactions.
--
-- The spend order (lowest priority number, soonest expiry with never last, granted before
-- paid, oldest) is written once, in lots_free_in_spend_order (the same columns as the index
-- ix_credit_lots_spend_order); a capture orders the hold's reserved lots the same way.

-- The value that leaves a lot of value v and amount c when the credits out go from n0 to n1:
-- floor(v*n1/c) - floor(v*n0/c), so the movements of a lot add up to floor(v*n/c) exactly.
CREATE FUNCTION lot_value_out(v bigint, c bigint, n0 bigint, n1 bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v IS NULL THEN NULL ELSE (v * n1) / c - (v * n0) / c END
$$;

-- THE spend order: the student's lots with free (unreserved) credits, lowest priority number
-- first, then soonest expiry (never last), then granted before paid, then oldest; with the
-- running total of free credits. Unexpired lots only, unless one lot is named (p_lot: an
-- expiry takes that lot's credits whatever its expiry).
CREATE FUNCTION lots_free_in_spend_order(p_student uuid, p_lot uuid)
RETURNS TABLE (id uuid, free bigint, running bigint)
LANGUAGE sql STABLE AS $$
    SELECT l.id, l.remaining - l.reserved,
           SUM(l.remaining - l.reserved) OVER (
               ORDER BY l.priority, l.expires_at NULLS LAST, (l.kind = 'PAID'), l.seq
               ROWS UNBOUNDED PRECEDING)::bigint
      FROM credit_lots l
     WHERE l.student_id = p_student AND l.remaining > l.reserved
       AND CASE WHEN p_lot IS NULL THEN (l.expires_at IS NULL OR l.expires_at > now())
                ELSE l.id = p_lot END
$$;

-- Take up to p_amount free (unreserved) credits from the student's lots in the spend order,
-- or only from p_lot (then expired credits too: an expiry takes those), as movements of
-- p_kind for entry p_entry. Returns the credits taken.
CREATE FUNCTION lots_take(p_student uuid, p_entry uuid, p_kind text, p_amount bigint,
                          p_lot uuid DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_taken bigint;
BEGIN
    IF p_amount <= 0 THEN
        RETURN 0;
    END IF;
    WITH ordered AS (
        SELECT * FROM lots_free_in_spend_order(p_student, p_lot)
    ), taken AS (
        SELECT id, running, LEAST(free, p_amount - (running - free)) AS credits
          FROM ordered WHERE running - free < p_amount
    ), moved AS (
        UPDATE credit_lots l SET remaining = l.remaining - t.credits
          FROM taken t WHERE l.id = t.id
        RETURNING l.id, l.amount, l.remaining, l.value_minor, t.credits, t.running
    ), inserted AS (
        -- In the spend order (an UPDATE returns its rows in no particular order): the
        -- movements' ids say which lot gave first.
        INSERT INTO lot_movements (lot_id, entry_id, kind, credits, value_minor)
        SELECT id, p_entry, p_kind, credits,
               lot_value_out(value_minor, amount, amount - remaining - credits, amount - remaining)
          FROM moved ORDER BY running
        RETURNING credits
    )
    SELECT COALESCE(SUM(credits), 0) INTO v_taken FROM inserted;
    RETURN v_taken;
END $$;

-- Post one ledger entry: move the balance, insert the entry. No cover check (the callers
-- decide); NULL when the student has no profile.
CREATE FUNCTION ledger_write(p_student uuid, p_entry_type text, p_amount bigint, p_delta bigint,
                             p_source_type text, p_source_id text, p_description text,
                             p_metadata jsonb, p_key text, p_actor uuid)
RETURNS credit_transactions
LANGUAGE plpgsql AS $$
DECLARE
    v_balance bigint;
    v_entry credit_transactions;
BEGIN
    UPDATE student_profiles SET credit_balance = credit_balance + p_delta, updated_at = now()
     WHERE user_id = p_student
    RETURNING credit_balance INTO v_balance;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO credit_transactions (student_id, entry_type, amount, balance_after, source_type,
                                     source_id, description, metadata, idempotency_key, actor_id)
    VALUES (p_student, p_entry_type, p_amount, v_balance, p_source_type, p_source_id,
            left(p_description, 500), COALESCE(p_metadata, '{}'::jsonb), p_key, p_actor)
    RETURNING * INTO v_entry;
    RETURN v_entry;
END $$;

-- Expire p_credits free credits of lot p_lot: one EXPIRY entry (its source_id UNIQUE).
CREATE FUNCTION lots_expire(p_lot uuid, p_credits bigint, p_source_id text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_lot credit_lots;
    v_entry credit_transactions;
BEGIN
    IF p_credits <= 0 THEN
        RETURN;
    END IF;
    SELECT * INTO v_lot FROM credit_lots WHERE id = p_lot;
    v_entry := ledger_write(v_lot.student_id, 'DEBIT', p_credits, -p_credits, 'EXPIRY',
                            p_source_id, p_credits || ' credits expired',
                            jsonb_build_object('lotId', p_lot::text, 'lotSource', v_lot.source),
                            NULL, NULL);
    IF lots_take(v_lot.student_id, v_entry.id, 'EXPIRY', p_credits, p_lot) <> p_credits THEN
        RAISE EXCEPTION 'lot % has fewer than % free credits to expire', p_lot, p_credits;
    END IF;
END $$;

-- New free credits pay the student's debts first (oldest first), from p_lot only or from any
-- unexpired lot in the spend order.
CREATE FUNCTION lots_pay_debts(p_student uuid, p_lot uuid DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d record;
    v_taken bigint;
BEGIN
    FOR d IN SELECT id, entry_id, remaining FROM credit_debts
              WHERE student_id = p_student AND remaining > 0 ORDER BY created_at, id LOOP
        v_taken := lots_take(p_student, d.entry_id, 'CLAWBACK', d.remaining, p_lot);
        EXIT WHEN v_taken = 0;
        UPDATE credit_debts SET remaining = remaining - v_taken WHERE id = d.id;
    END LOOP;
END $$;

-- A hold no longer reserves: its credits go back to their lots. What comes back to a lot
-- that has expired meanwhile pays a debt first, and the rest expires at once, with an EXPIRY
-- entry of its own.
CREATE FUNCTION lots_return_hold(p_hold uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_student uuid;
    v_expired boolean;
BEGIN
    FOR r IN DELETE FROM lot_reservations WHERE hold_id = p_hold RETURNING lot_id, credits LOOP
        UPDATE credit_lots SET reserved = reserved - r.credits WHERE id = r.lot_id
        RETURNING student_id, COALESCE(expires_at <= now(), false) INTO v_student, v_expired;
        IF r.credits > 0 AND v_expired THEN
            PERFORM lots_pay_debts(v_student, r.lot_id);
            PERFORM lots_expire(r.lot_id,
                                (SELECT remaining - reserved FROM credit_lots WHERE id = r.lot_id),
                                'lot:' || r.lot_id || ':hold:' || p_hold);
        END IF;
    END LOOP;
    IF v_student IS NOT NULL THEN
        PERFORM lots_pay_debts(v_student);
    END IF;
END $$;

-- Lock the student's balance row, then write down what the clock decided: holds past their
-- expiry give their credits back, lots past theirs expire (one EXPIRY entry each). Every
-- posting and hold change runs this first, so a lot's credits are unavailable from its
-- expiresAt on, whether or not the job has run.
CREATE FUNCTION lots_settle(p_student uuid, OUT holds_expired integer, OUT lots_expired integer)
LANGUAGE plpgsql AS $$
DECLARE
    h record;
    l record;
BEGIN
    holds_expired := 0;
    lots_expired := 0;
    PERFORM 1 FROM student_profiles WHERE user_id = p_student FOR NO KEY UPDATE;
    FOR h IN UPDATE credit_holds
                SET status = 'EXPIRED', closed_at = expires_at, updated_at = now()
              WHERE student_id = p_student AND status = 'ACTIVE' AND expires_at <= now()
          RETURNING id LOOP
        PERFORM lots_return_hold(h.id);
        holds_expired := holds_expired + 1;
    END LOOP;
    FOR l IN SELECT id, remaining - reserved AS free FROM credit_lots
              WHERE student_id = p_student AND expires_at <= now() AND NOT swept
              ORDER BY expires_at, seq LOOP
        IF l.free > 0 THEN
            PERFORM lots_expire(l.id, l.free, 'lot:' || l.id);
            lots_expired := lots_expired + 1;
        END IF;
        -- Written down: the job looks no more (a hold giving credits back later expires them
        -- itself, lots_return_hold).
        UPDATE credit_lots SET swept = true WHERE id = l.id;
    END LOOP;
END $$;

-- Reserve p_amount free credits for hold p_hold in the spend order.
CREATE FUNCTION lots_reserve(p_hold uuid, p_student uuid, p_amount bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_taken bigint;
BEGIN
    WITH ordered AS (
        SELECT * FROM lots_free_in_spend_order(p_student, NULL)
    ), taken AS (
        SELECT id, running, LEAST(free, p_amount - (running - free)) AS credits
          FROM ordered WHERE running - free < p_amount
    ), moved AS (
        UPDATE credit_lots l SET reserved = l.reserved + t.credits
          FROM taken t WHERE l.id = t.id
        RETURNING l.id, t.credits
    ), reserved AS (
        INSERT INTO lot_reservations AS r (hold_id, lot_id, credits)
        SELECT p_hold, id, credits FROM moved
        ON CONFLICT (hold_id, lot_id) DO UPDATE SET credits = r.credits + excluded.credits
    )
    -- (a data-modifying CTE runs whether or not it is read)
    SELECT COALESCE(SUM(credits), 0) INTO v_taken FROM moved;
    IF v_taken <> p_amount THEN
        RAISE EXCEPTION 'hold %: only % of % credits free in lots', p_hold, v_taken, p_amount;
    END IF;
END $$;

-- Bring a hold's reservations in line with the hold: a live hold reserves its amount, a
-- closed one (or one past its expiry) nothing. Run after every change to a hold.
CREATE FUNCTION lots_sync_hold(p_hold uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_hold credit_holds;
    v_reserved bigint;
BEGIN
    SELECT * INTO v_hold FROM credit_holds WHERE id = p_hold;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_hold.status = 'ACTIVE' AND v_hold.expires_at > now() THEN
        SELECT COALESCE(SUM(credits), 0) INTO v_reserved FROM lot_reservations
         WHERE hold_id = p_hold;
        IF v_hold.amount > v_reserved THEN
            PERFORM lots_reserve(p_hold, v_hold.student_id, v_hold.amount - v_reserved);
        END IF;
    ELSE
        PERFORM lots_return_hold(p_hold);
    END IF;
END $$;

-- A capture: p_amount of the hold's reserved credits move (USE) in the spend order of their
-- lots; the rest goes back.
CREATE FUNCTION lots_consume_hold(p_hold uuid, p_entry uuid, p_amount bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_taken bigint;
BEGIN
    WITH ordered AS (
        SELECT l.id, r.credits AS free,
               SUM(r.credits) OVER (
                   ORDER BY l.priority, l.expires_at NULLS LAST, (l.kind = 'PAID'), l.seq
                   ROWS UNBOUNDED PRECEDING)::bigint AS running
          FROM lot_reservations r JOIN credit_lots l ON l.id = r.lot_id
         WHERE r.hold_id = p_hold AND r.credits > 0
    ), taken AS (
        SELECT id, running, LEAST(free, p_amount - (running - free)) AS credits
          FROM ordered WHERE running - free < p_amount
    ), unreserved AS (
        UPDATE lot_reservations r SET credits = r.credits - t.credits
          FROM taken t WHERE r.hold_id = p_hold AND r.lot_id = t.id
    ), moved AS (
        UPDATE credit_lots l
           SET remaining = l.remaining - t.credits, reserved = l.reserved - t.credits
          FROM taken t WHERE l.id = t.id
        RETURNING l.id, l.amount, l.remaining, l.value_minor, t.credits, t.running
    ), inserted AS (
        -- In the spend order (an UPDATE returns its rows in no particular order): the
        -- movements' ids say which lot gave first.
        INSERT INTO lot_movements (lot_id, entry_id, kind, credits, value_minor)
        SELECT id, p_entry, 'USE', credits,
               lot_value_out(value_minor, amount, amount - remaining - credits, amount - remaining)
          FROM moved ORDER BY running
        RETURNING credits
    )
    SELECT COALESCE(SUM(credits), 0) INTO v_taken FROM inserted;
    IF v_taken <> p_amount THEN
        RAISE EXCEPTION 'hold %: captured % but reserved only %', p_hold, p_amount, v_taken;
    END IF;
    PERFORM lots_return_hold(p_hold);
END $$;

-- The lot a payment's purchase created (source_id of a clawback is the payment's id).
CREATE FUNCTION lots_purchase_lot(p_payment text) RETURNS credit_lots
LANGUAGE sql STABLE AS $$
    SELECT l.*
      FROM payments p
      JOIN credit_transactions t
        ON t.source_type = 'PURCHASE' AND t.source_id = p.stripe_checkout_session_id
      JOIN credit_lots l ON l.entry_id = t.id
     WHERE p.id::text = p_payment
     LIMIT 1
$$;

-- A clawback (refund, lost dispute; source_id is the payment): from the purchase's own lot
-- first, then the student's other lots in the spend order, then as a debt.
CREATE FUNCTION lots_claw(p_entry credit_transactions) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_own uuid;
    v_left bigint := p_entry.amount;
BEGIN
    v_own := (lots_purchase_lot(p_entry.source_id)).id;
    IF v_own IS NOT NULL THEN
        v_left := v_left - lots_take(p_entry.student_id, p_entry.id, 'CLAWBACK', v_left, v_own);
    END IF;
    v_left := v_left - lots_take(p_entry.student_id, p_entry.id, 'CLAWBACK', v_left);
    IF v_left > 0 THEN
        INSERT INTO credit_debts (student_id, entry_id, amount, remaining)
        VALUES (p_entry.student_id, p_entry.id, v_left, v_left);
    END IF;
END $$;

-- Credits given back (a failed refund, a won dispute): lots of the same kind, source, expiry
-- and value per credit as those the payment's clawbacks took, newest first; what those never
-- took (an unpaid debt) comes back like the purchase's own lot.
CREATE FUNCTION lots_give_back(p_entry credit_transactions) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m record;
    v_left bigint := p_entry.amount;
    v_take bigint;
    v_own credit_lots;
BEGIN
    FOR m IN SELECT mv.id, mv.credits, mv.value_minor, l.kind, l.source, l.expires_at,
                    l.priority, l.currency,
                    mv.credits - COALESCE((SELECT SUM(g.amount) FROM credit_lots g
                                             WHERE g.origin_movement_id = mv.id), 0) AS open
               FROM lot_movements mv
               JOIN credit_transactions t ON t.id = mv.entry_id
               JOIN credit_lots l ON l.id = mv.lot_id
              WHERE t.source_id = p_entry.source_id AND t.entry_type = 'DEBIT'
                AND t.source_type IN ('REFUND', 'DISPUTE') AND t.student_id = p_entry.student_id
              ORDER BY mv.id DESC LOOP
        EXIT WHEN v_left = 0;
        CONTINUE WHEN m.open <= 0;
        v_take := LEAST(v_left, m.open);
        INSERT INTO credit_lots (student_id, entry_id, kind, source, amount, remaining, priority,
                                 expires_at, value_minor, currency, origin_movement_id, created_at)
        VALUES (p_entry.student_id, p_entry.id, m.kind, m.source, v_take, v_take, m.priority,
                m.expires_at, (m.value_minor * v_take) / m.credits, m.currency, m.id,
                p_entry.created_at);
        v_left := v_left - v_take;
    END LOOP;
    IF v_left > 0 THEN
        v_own := lots_purchase_lot(p_entry.source_id);
        INSERT INTO credit_lots (student_id, entry_id, kind, source, amount, remaining, priority,
                                 expires_at, value_minor, currency, created_at)
        VALUES (p_entry.student_id, p_entry.id, COALESCE(v_own.kind, 'GRANTED'),
                COALESCE(v_own.source, p_entry.source_type), v_left, v_left,
                COALESCE(v_own.priority, 50), v_own.expires_at,
                (v_own.value_minor * v_left) / v_own.amount, v_own.currency, p_entry.created_at);
    END IF;
END $$;

-- What an entry does to lots (the entry is already written): a credit creates its lot (or
-- the lots it gives back) and pays debts; a debit takes its credits as movements.
CREATE FUNCTION lots_apply(p_entry credit_transactions, p_lot_kind text, p_lot_source text,
                           p_expires_at timestamptz, p_priority integer, p_value_minor bigint,
                           p_currency text, p_hold uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_kind text;
BEGIN
    IF p_entry.entry_type = 'CREDIT' THEN
        IF p_entry.source_type IN ('REFUND', 'DISPUTE') THEN
            PERFORM lots_give_back(p_entry);
        ELSE
            INSERT INTO credit_lots (student_id, entry_id, kind, source, amount, remaining,
                                     priority, expires_at, value_minor, currency, created_at)
            VALUES (p_entry.student_id, p_entry.id, p_lot_kind, p_lot_source, p_entry.amount,
                    p_entry.amount, p_priority, p_expires_at, p_value_minor, p_currency,
                    p_entry.created_at);
        END IF;
        PERFORM lots_pay_debts(p_entry.student_id);
    ELSIF p_hold IS NOT NULL THEN
        PERFORM lots_consume_hold(p_hold, p_entry.id, p_entry.amount);
    ELSIF p_entry.source_type IN ('REFUND', 'DISPUTE') THEN
        PERFORM lots_claw(p_entry);
    ELSE
        v_kind := CASE p_entry.source_type WHEN 'ADMIN_ADJUSTMENT' THEN 'ADJUSTMENT'
                                           ELSE 'USE' END;
        IF lots_take(p_entry.student_id, p_entry.id, v_kind, p_entry.amount) <> p_entry.amount
        THEN
            RAISE EXCEPTION 'entry %: its lots do not cover % credits', p_entry.id,
                p_entry.amount;
        END IF;
    END IF;
END $$;

-- The posting: only when p_allowed (the caller's cover check, evaluated after the lock),
-- the entry, then its lots. NULL when refused or when the student has no profile.
CREATE FUNCTION ledger_post(p_student uuid, p_entry_type text, p_amount bigint, p_delta bigint,
                            p_allowed boolean, p_source_type text, p_source_id text,
                            p_description text, p_metadata jsonb, p_key text, p_actor uuid,
                            p_lot_kind text, p_lot_source text, p_expires_at timestamptz,
                            p_priority integer, p_value_minor bigint, p_currency text,
                            p_hold uuid)
RETURNS credit_transactions
LANGUAGE plpgsql AS $$
DECLARE
    v_entry credit_transactions;
BEGIN
    IF p_allowed IS NOT TRUE THEN
        RETURN NULL;
    END IF;
    v_entry := ledger_write(p_student, p_entry_type, p_amount, p_delta, p_source_type,
                            p_source_id, p_description, p_metadata, p_key, p_actor);
    IF v_entry.id IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM lots_apply(v_entry, p_lot_kind, p_lot_source, p_expires_at, p_priority,
                       p_value_minor, p_currency, p_hold);
    RETURN v_entry;
END $$;

-- The expiry job: settle up to p_batch students who have a lot or a hold past its expiry,
-- skipping those whose balance row is locked (their own posting is settling them now).
CREATE FUNCTION lots_sweep(p_batch integer, OUT holds_expired integer,
                           OUT lots_expired integer, OUT students integer)
LANGUAGE plpgsql AS $$
DECLARE
    s record;
    v record;
BEGIN
    holds_expired := 0;
    lots_expired := 0;
    students := 0;
    FOR s IN SELECT p.user_id FROM student_profiles p
              WHERE p.user_id IN (
                    (SELECT student_id FROM credit_lots
                      WHERE expires_at IS NOT NULL AND NOT swept AND expires_at <= now()
                      ORDER BY expires_at LIMIT p_batch)
                    UNION
                    (SELECT student_id FROM credit_holds
                      WHERE status = 'ACTIVE' AND expires_at <= now()
                      ORDER BY expires_at LIMIT p_batch))
              ORDER BY p.user_id
              LIMIT p_batch
                FOR NO KEY UPDATE OF p SKIP LOCKED LOOP
        v := lots_settle(s.user_id);
        students := students + 1;
        holds_expired := holds_expired + v.holds_expired;
        lots_expired := lots_expired + v.lots_expired;
    END LOOP;
END $$;
