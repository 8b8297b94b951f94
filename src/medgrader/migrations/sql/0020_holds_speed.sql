-- The holds' lot work, faster (migration 0020): the same reservations, movements, EXPIRY
-- entries and debts as 0013's versions of these functions, in fewer and simpler statements.
-- Like every lots function they run inside the caller's transaction, after lots_settle took
-- the student's balance row lock, so a student's lots and reservations change one
-- transaction at a time and a read-then-write here cannot race.
--
-- What 0013 paid for on every hold change (bench.holds: 11 reservations and a capture per
-- call): each reservation was one statement of four CTEs whose UPDATE of the lot joined the
-- spend order by a hash over every lot of every student, a second statement summed the
-- hold's reservations and a third read the whole hold; a capture's CTEs set consumed
-- reservations to 0 and lots_return_hold then wrote every reserved lot a second time (an
-- UPDATE of `reserved` by 0 is still a new row version), and ran lots_pay_debts whether or
-- not the student owed anything.
--
-- The spend order is still lots_free_in_spend_order's (a reservation walks its rows); a
-- capture orders the hold's reserved lots the same way, as before.

-- Reserve p_amount free credits for hold p_hold in the spend order: from the first lot with
-- free credits, again while the amount is not covered (a hold usually reserves from one lot),
-- each lot's `reserved` and the hold's reservation in it moving by the same credits, the lot
-- written by its key.
CREATE OR REPLACE FUNCTION lots_reserve(p_hold uuid, p_student uuid, p_amount bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_lot uuid;
    v_free bigint;
    v_left bigint := p_amount;
    v_take bigint;
BEGIN
    WHILE v_left > 0 LOOP
        -- (a lot this loop reserved in whole has no free credits left: it is not found again)
        SELECT o.id, o.free INTO v_lot, v_free
          FROM lots_free_in_spend_order(p_student, NULL) o ORDER BY o.running LIMIT 1;
        EXIT WHEN NOT FOUND;
        v_take := LEAST(v_free, v_left);
        UPDATE credit_lots SET reserved = reserved + v_take WHERE id = v_lot;
        INSERT INTO lot_reservations AS r (hold_id, lot_id, credits)
        VALUES (p_hold, v_lot, v_take)
        ON CONFLICT (hold_id, lot_id) DO UPDATE SET credits = r.credits + excluded.credits;
        v_left := v_left - v_take;
    END LOOP;
    IF v_left <> 0 THEN
        RAISE EXCEPTION 'hold %: only % of % credits free in lots', p_hold, p_amount - v_left,
            p_amount;
    END IF;
END $$;

-- Bring a hold's reservations in line with the hold: a live hold reserves its amount, a
-- closed one (or one past its expiry) nothing. Run after every change to a hold. One read
-- of the hold and of what it reserves; a live hold that already reserves its amount (a
-- renewal) changes nothing.
CREATE OR REPLACE FUNCTION lots_sync_hold(p_hold uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_student uuid;
    v_live boolean;
    v_missing bigint;
BEGIN
    SELECT h.student_id, h.status = 'ACTIVE' AND h.expires_at > now(),
           h.amount - (SELECT COALESCE(SUM(r.credits), 0) FROM lot_reservations r
                        WHERE r.hold_id = h.id)
      INTO v_student, v_live, v_missing
      FROM credit_holds h WHERE h.id = p_hold;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF NOT v_live THEN
        PERFORM lots_return_hold(p_hold);
    ELSIF v_missing > 0 THEN
        PERFORM lots_reserve(p_hold, v_student, v_missing);
    END IF;
END $$;

-- New free credits pay the student's open debts; most students owe nothing, and this probe
-- (the partial index ix_credit_debts_open) is all it costs them.
CREATE OR REPLACE FUNCTION lots_pay_debts_if_any(p_student uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM credit_debts WHERE student_id = p_student AND remaining > 0) THEN
        PERFORM lots_pay_debts(p_student);
    END IF;
END $$;

-- A hold no longer reserves: its credits go back to their lots. What comes back to a lot
-- that has expired meanwhile pays a debt first, and the rest expires at once, with an EXPIRY
-- entry of its own.
CREATE OR REPLACE FUNCTION lots_return_hold(p_hold uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_student uuid;
    v_expired boolean;
    v_swept boolean;
BEGIN
    FOR r IN DELETE FROM lot_reservations WHERE hold_id = p_hold RETURNING lot_id, credits LOOP
        UPDATE credit_lots SET reserved = reserved - r.credits WHERE id = r.lot_id
        RETURNING student_id, COALESCE(expires_at <= now(), false), swept
             INTO v_student, v_expired, v_swept;
        IF r.credits > 0 AND v_expired THEN
            PERFORM lots_pay_debts(v_student, r.lot_id);
        END IF;
        -- A lot past its expiry whose expiry is not written down yet (only inside lots_settle:
        -- every other caller settled first) is left to lots_settle's lots loop, which rolls
        -- over what a subscription period's lot may carry and expires the rest: expiring it
        -- here would cost the student that rollover.
        IF r.credits > 0 AND v_expired AND v_swept THEN
            PERFORM lots_expire(r.lot_id,
                                (SELECT remaining - reserved FROM credit_lots WHERE id = r.lot_id),
                                'lot:' || r.lot_id || ':hold:' || p_hold);
        END IF;
    END LOOP;
    IF v_student IS NOT NULL THEN
        PERFORM lots_pay_debts_if_any(v_student);
    END IF;
END $$;

-- A capture: p_amount of the hold's reserved credits move (USE) in the spend order of their
-- lots, and the rest goes back, each reserved lot written once: its `remaining` down by what
-- was used, its `reserved` down by all the hold reserved in it. Then, as lots_return_hold
-- does, what came back to an expired lot pays debts from it and expires (its own EXPIRY
-- entry), and open debts are paid.
CREATE OR REPLACE FUNCTION lots_consume_hold(p_hold uuid, p_entry uuid, p_amount bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    taken record;
    v_left bigint := p_amount;
    v_take bigint;
    v_value bigint;
    v_student uuid;
    v_back_to_expired uuid[] := '{}';
    v_lot uuid;
BEGIN
    FOR taken IN SELECT l.id, l.student_id, r.credits, COALESCE(l.expires_at <= now(), false) AS expired
               FROM lot_reservations r JOIN credit_lots l ON l.id = r.lot_id
              WHERE r.hold_id = p_hold AND r.credits > 0
              ORDER BY l.priority, l.expires_at NULLS LAST, (l.kind = 'PAID'), l.seq LOOP
        v_student := taken.student_id;
        v_take := LEAST(taken.credits, v_left);
        v_left := v_left - v_take;
        -- The value out is lot_value_out of the credits out before and after (remaining is
        -- the new one here), as lots_take computes it.
        UPDATE credit_lots l
           SET remaining = l.remaining - v_take, reserved = l.reserved - taken.credits
         WHERE l.id = taken.id
        RETURNING lot_value_out(l.value_minor, l.amount, l.amount - l.remaining - v_take,
                                l.amount - l.remaining)
          INTO v_value;
        IF v_take > 0 THEN  -- (the movements' ids follow the spend order, as before)
            INSERT INTO lot_movements (lot_id, entry_id, kind, credits, value_minor)
            VALUES (taken.id, p_entry, 'USE', v_take, v_value);
        END IF;
        IF taken.credits > v_take AND taken.expired THEN
            v_back_to_expired := v_back_to_expired || taken.id;
        END IF;
    END LOOP;
    IF v_left <> 0 THEN
        RAISE EXCEPTION 'hold %: captured % but reserved only %', p_hold, p_amount,
            p_amount - v_left;
    END IF;
    DELETE FROM lot_reservations WHERE hold_id = p_hold;
    FOREACH v_lot IN ARRAY v_back_to_expired LOOP
        PERFORM lots_pay_debts(v_student, v_lot);
        PERFORM lots_expire(v_lot, (SELECT remaining - reserved FROM credit_lots WHERE id = v_lot),
                            'lot:' || v_lot || ':hold:' || p_hold);
    END LOOP;
    IF v_student IS NOT NULL THEN
        PERFORM lots_pay_debts_if_any(v_student);
    END IF;
END $$;
