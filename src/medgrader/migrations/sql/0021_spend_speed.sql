-- The spend's lot work, faster (migration 0021): the same entries, lots, movements and EXPIRY
-- entries as before, in fewer and cheaper statements. Like every lots function these run
-- inside the caller's transaction, after lots_settle took the student's balance row lock, so
-- a read-then-write here cannot race.
--
-- What every spend paid for before (measured with pg_stat_statements on bench.spend, 1,000
-- accounts): lots_settle ran both of its loop queries (a cursor each) for a student with
-- nothing due; lots_take's one statement of four CTEs materialised its rows and sorted them
-- again for the INSERT, even when the first lot covered the spend; and ledger_post called
-- lots_apply with PERFORM, which PL/pgSQL runs as a query of its own (executor start, a
-- portal) where an expression is evaluated directly.

-- What the clock has decided for a student and lots_settle has not written down yet: an
-- ACTIVE hold past its expiry, or a lot past its expiry not yet swept. THE definition: the
-- settle's shortcut and a reader's settle (ledger.service.SETTLE_IF_DUE) ask this.
CREATE FUNCTION lots_due(p_student uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM credit_holds h
                    WHERE h.student_id = p_student AND h.status = 'ACTIVE'
                      AND h.expires_at <= now())
        OR EXISTS (SELECT 1 FROM credit_lots l
                    WHERE l.student_id = p_student AND l.expires_at <= now() AND NOT l.swept)
$$;

-- 0018's lots_settle, returning after the lock when nothing is due (most postings): one index
-- probe per table instead of two loop cursors. The probe runs after the lock, so it sees
-- everything committed before the lock was granted.
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
    IF NOT lots_due(p_student) THEN
        RETURN;
    END IF;
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

-- Take up to p_amount free (unreserved) credits from the student's lots in the spend order,
-- or only from p_lot (then expired credits too: an expiry takes those), as movements of
-- p_kind for entry p_entry. Returns the credits taken. As lots_reserve (0020): the first lot
-- of lots_free_in_spend_order, written by its key, again while the amount is not covered (a
-- spend usually takes from one lot; a lot emptied here has no free credits and is not found
-- again). Movements are inserted in the spend order, as before.
CREATE OR REPLACE FUNCTION lots_take(p_student uuid, p_entry uuid, p_kind text, p_amount bigint,
                                     p_lot uuid DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_lot uuid;
    v_free bigint;
    v_left bigint := p_amount;
    v_take bigint;
    v_amount bigint;
    v_remaining bigint;
    v_value bigint;
BEGIN
    IF p_amount <= 0 THEN
        RETURN 0;
    END IF;
    WHILE v_left > 0 LOOP
        SELECT o.id, o.free INTO v_lot, v_free
          FROM lots_free_in_spend_order(p_student, p_lot) o ORDER BY o.running LIMIT 1;
        EXIT WHEN NOT FOUND;
        v_take := LEAST(v_free, v_left);
        UPDATE credit_lots SET remaining = remaining - v_take WHERE id = v_lot
        RETURNING amount, remaining, value_minor INTO v_amount, v_remaining, v_value;
        INSERT INTO lot_movements (lot_id, entry_id, kind, credits, value_minor)
        VALUES (v_lot, p_entry, p_kind, v_take,
                lot_value_out(v_value, v_amount, v_amount - v_remaining - v_take,
                              v_amount - v_remaining));
        v_left := v_left - v_take;
    END LOOP;
    RETURN p_amount - v_left;
END $$;

-- 0013's lots_apply, returning true (the migration drops the void one first): a value lets
-- ledger_post evaluate the call as an expression instead of running PERFORM's query.
CREATE FUNCTION lots_apply(p_entry credit_transactions, p_lot_kind text, p_lot_source text,
                           p_expires_at timestamptz, p_priority integer, p_value_minor bigint,
                           p_currency text, p_hold uuid) RETURNS boolean
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
    RETURN true;
END $$;

-- 0013's ledger_post, calling lots_apply as an expression.
CREATE OR REPLACE FUNCTION ledger_post(p_student uuid, p_entry_type text, p_amount bigint,
                                       p_delta bigint, p_allowed boolean, p_source_type text,
                                       p_source_id text, p_description text, p_metadata jsonb,
                                       p_key text, p_actor uuid, p_lot_kind text,
                                       p_lot_source text, p_expires_at timestamptz,
                                       p_priority integer, p_value_minor bigint,
                                       p_currency text, p_hold uuid)
RETURNS credit_transactions
LANGUAGE plpgsql AS $$
DECLARE
    v_entry credit_transactions;
    v_applied boolean;
BEGIN
    IF p_allowed IS NOT TRUE THEN
        RETURN NULL;
    END IF;
    v_entry := ledger_write(p_student, p_entry_type, p_amount, p_delta, p_source_type,
                            p_source_id, p_description, p_metadata, p_key, p_actor);
    IF v_entry.id IS NULL THEN
        RETURN NULL;
    END IF;
    v_applied := lots_apply(v_entry, p_lot_kind, p_lot_source, p_expires_at, p_priority,
                            p_value_minor, p_currency, p_hold);
    RETURN v_entry;
END $$;
