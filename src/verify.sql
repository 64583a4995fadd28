-- verify.sql: loyalty.verify() recomputes every booked figure from the
-- ledger and reports each difference (SPEC section 10), points part.

CREATE FUNCTION @extschema@.verify(program text DEFAULT NULL)
RETURNS TABLE(check_name text, ok boolean, detail text)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.verify(text) IS
    'Recompute balances, lots and debts from the ledger (one programme, or all) and report any difference.';

CREATE FUNCTION @extschema@._verify(caller oid, program text)
RETURNS TABLE(check_name text, ok boolean, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    pid bigint;
    members bigint;
    lots bigint;
BEGIN
    IF program IS NOT NULL THEN
        pid := (@extschema@._program_row(program)).program_id;
    ELSE
        PERFORM @extschema@._require_unlimited('loyalty.verify() of every programme');
    END IF;
    -- No temporary tables here: one made beforehand by the caller, with a
    -- trigger, would run the caller's code with the owner's rights.
    SELECT count(*) INTO members FROM @extschema@.member m WHERE pid IS NULL OR m.program_id = pid;
    SELECT count(*) INTO lots FROM @extschema@.points_lot l
    JOIN @extschema@.member m USING (member_id) WHERE pid IS NULL OR m.program_id = pid;

    RETURN QUERY
    WITH bad AS (
        SELECT m.member_id, m.booked, COALESCE(sum(e.points), 0) AS ledger
        FROM @extschema@.member m JOIN (SELECT sm.member_id FROM @extschema@.member sm WHERE pid IS NULL OR sm.program_id = pid) s USING (member_id)
        LEFT JOIN @extschema@.points_entry e ON e.member_id = m.member_id
        GROUP BY m.member_id, m.booked
        HAVING m.booked <> COALESCE(sum(e.points), 0))
    SELECT 'points: booked balance equals the sum of ledger entries', count(*) = 0,
           CASE WHEN count(*) = 0 THEN format('%s members consistent', members)
                ELSE format('%s members differ, e.g. member %s: booked %s, ledger %s', count(*),
                            min(member_id), (array_agg(booked ORDER BY member_id))[1],
                            (array_agg(ledger ORDER BY member_id))[1]) END
    FROM bad;

    RETURN QUERY
    WITH bad AS (
        SELECT m.member_id, m.booked, COALESCE(sum(l.remaining), 0) - m.debt AS held
        FROM @extschema@.member m JOIN (SELECT sm.member_id FROM @extschema@.member sm WHERE pid IS NULL OR sm.program_id = pid) s USING (member_id)
        LEFT JOIN @extschema@.points_lot l ON l.member_id = m.member_id
        GROUP BY m.member_id, m.booked, m.debt
        HAVING m.booked <> COALESCE(sum(l.remaining), 0) - m.debt)
    SELECT 'points: booked balance equals lot remainders less debt', count(*) = 0,
           CASE WHEN count(*) = 0 THEN format('%s members consistent', members)
                ELSE format('%s members differ, e.g. member %s: booked %s, lots less debt %s', count(*),
                            min(member_id), (array_agg(booked ORDER BY member_id))[1],
                            (array_agg(held ORDER BY member_id))[1]) END
    FROM bad;

    RETURN QUERY
    WITH moves AS (
        SELECT e.member_id, u.lot_id, sum(u.moved) AS moved
        FROM @extschema@.points_entry e JOIN (SELECT sm.member_id FROM @extschema@.member sm WHERE pid IS NULL OR sm.program_id = pid) s USING (member_id),
             unnest(e.lots, e.lot_points) AS u(lot_id, moved)
        GROUP BY e.member_id, u.lot_id),
    bad AS (
        SELECT COALESCE(l.lot_id, mv.lot_id) AS lot_id, l.remaining, mv.moved
        FROM (SELECT l.* FROM @extschema@.points_lot l JOIN (SELECT sm.member_id FROM @extschema@.member sm WHERE pid IS NULL OR sm.program_id = pid) s USING (member_id)) l
        FULL JOIN moves mv ON mv.member_id = l.member_id AND mv.lot_id = l.lot_id
        WHERE l.remaining IS DISTINCT FROM mv.moved)
    SELECT 'points: every lot remainder equals the sum of its moves', count(*) = 0,
           CASE WHEN count(*) = 0 THEN format('%s lots consistent', lots)
                ELSE format('%s lots differ, e.g. lot %s: remaining %s, moves %s', count(*),
                            min(lot_id), (array_agg(remaining ORDER BY lot_id))[1],
                            (array_agg(moved ORDER BY lot_id))[1]) END
    FROM bad;

    RETURN QUERY
    SELECT 'points: no lot below zero or above its original points', count(*) = 0,
           CASE WHEN count(*) = 0 THEN format('%s lots within bounds', lots)
                ELSE format('%s lots out of bounds, e.g. lot %s', count(*), min(l.lot_id)) END
    FROM @extschema@.points_lot l JOIN (SELECT sm.member_id FROM @extschema@.member sm WHERE pid IS NULL OR sm.program_id = pid) s USING (member_id)
    WHERE l.remaining < 0 OR l.remaining > l.points;

    RETURN QUERY
    WITH bad AS (
        SELECT m.member_id, m.debt, COALESCE(sum(e.debt_delta), 0) AS ledger
        FROM @extschema@.member m JOIN (SELECT sm.member_id FROM @extschema@.member sm WHERE pid IS NULL OR sm.program_id = pid) s USING (member_id)
        LEFT JOIN @extschema@.points_entry e ON e.member_id = m.member_id
        GROUP BY m.member_id, m.debt
        HAVING m.debt <> COALESCE(sum(e.debt_delta), 0) OR m.debt < 0)
    SELECT 'points: debt equals the sum of its ledger changes', count(*) = 0,
           CASE WHEN count(*) = 0 THEN format('%s members consistent', members)
                ELSE format('%s members differ, e.g. member %s: debt %s, ledger %s', count(*),
                            min(member_id), (array_agg(debt ORDER BY member_id))[1],
                            (array_agg(ledger ORDER BY member_id))[1]) END
    FROM bad;

    RETURN QUERY
    WITH earned AS (
        SELECT e.member_id,
               sum(CASE WHEN e.operation = 'earn' THEN e.points
                        WHEN e.operation = 'reverse' AND o.operation = 'earn' THEN -e.covers
                        ELSE 0 END) AS total
        FROM @extschema@.points_entry e JOIN (SELECT sm.member_id FROM @extschema@.member sm WHERE pid IS NULL OR sm.program_id = pid) s USING (member_id)
        LEFT JOIN @extschema@.points_entry o ON o.member_id = e.member_id AND o.entry_id = e.reverses
        GROUP BY e.member_id),
    bad AS (
        SELECT m.member_id, m.lifetime_earned, COALESCE(x.total, 0) AS total
        FROM @extschema@.member m JOIN (SELECT sm.member_id FROM @extschema@.member sm WHERE pid IS NULL OR sm.program_id = pid) s USING (member_id)
        LEFT JOIN earned x ON x.member_id = m.member_id
        WHERE m.lifetime_earned <> COALESCE(x.total, 0))
    SELECT 'points: lifetime earned equals earnings less their reversals', count(*) = 0,
           CASE WHEN count(*) = 0 THEN format('%s members consistent', members)
                ELSE format('%s members differ, e.g. member %s', count(*), min(member_id)) END
    FROM bad;

    RETURN QUERY
    WITH bad AS (
        SELECT o.entry_id
        FROM @extschema@.points_entry r JOIN (SELECT sm.member_id FROM @extschema@.member sm WHERE pid IS NULL OR sm.program_id = pid) s USING (member_id)
        JOIN @extschema@.points_entry o ON o.member_id = r.member_id AND o.entry_id = r.reverses
        GROUP BY o.entry_id, o.points
        HAVING sum(r.covers) > abs(o.points))
    SELECT 'points: no entry reversed beyond its amount', count(*) = 0,
           CASE WHEN count(*) = 0 THEN 'all reversals within their entries'
                ELSE format('%s entries over-reversed, e.g. entry %s', count(*), min(entry_id)) END
    FROM bad;

    RETURN QUERY
    WITH bad AS (
        SELECT e.member_id, e.entry_id, e.operation FROM @extschema@.points_entry e
        LEFT JOIN @extschema@.member m ON m.member_id = e.member_id
        WHERE (m.member_id IS NULL AND pid IS NULL) OR (m.member_id IS NOT NULL AND (pid IS NULL OR m.program_id = pid)
              AND e.operation <> ALL (ARRAY['earn','spend','reverse','adjust','transfer','expire','settle','release','hold'])))
    SELECT 'points: every entry has its member and a known operation', count(*) = 0,
           CASE WHEN count(*) = 0 THEN 'all entries well-formed'
                ELSE format('%s entries malformed, e.g. entry %s (member %s, operation %s)', count(*),
                            min(entry_id), (array_agg(member_id ORDER BY entry_id))[1],
                            (array_agg(operation ORDER BY entry_id))[1]) END
    FROM bad;

    RETURN QUERY
    SELECT 'points: every lot has its member', count(*) = 0,
           CASE WHEN count(*) = 0 THEN 'no lot without its member'
                ELSE format('%s lots without a member, e.g. lot %s', count(*), min(l.lot_id)) END
    FROM @extschema@.points_lot l
    WHERE pid IS NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.member m WHERE m.member_id = l.member_id);

    RETURN QUERY
    WITH bad AS (
        SELECT t.template_id, t.code, t.claimed, t.total_quantity,
               (SELECT count(*) FROM @extschema@.coupon c
                WHERE c.template_id = t.template_id AND c.member_id IS NOT NULL) AS counted
        FROM @extschema@.coupon_template t
        WHERE pid IS NULL OR t.program_id = pid)
    SELECT 'coupons: claimed counts match their coupons, within total_quantity', count(*) = 0,
           CASE WHEN count(*) = 0 THEN format('%s templates consistent', (SELECT count(*) FROM bad))
                ELSE format('%s templates differ, e.g. "%s": claimed %s, coupons %s, total_quantity %s', count(*),
                            min(code), (array_agg(claimed ORDER BY code))[1], (array_agg(counted ORDER BY code))[1],
                            COALESCE((array_agg(total_quantity ORDER BY code))[1]::text, 'unlimited')) END
    FROM bad WHERE claimed <> counted OR claimed > total_quantity;
    RETURN QUERY
    WITH bad AS (
        SELECT w.wallet_id, w.name,
               (SELECT COALESCE(sum(p.posted), 0) FROM @extschema@.wallet_part p WHERE p.wallet_id = w.wallet_id) AS booked,
               (SELECT COALESCE(sum(e.amount), 0) FROM @extschema@.wallet_entry e WHERE e.wallet_id = w.wallet_id) AS ledger
        FROM @extschema@.wallet w WHERE pid IS NULL OR w.program_id = pid)
    SELECT 'wallets: booked balance equals the sum of wallet entries', count(*) FILTER (WHERE booked <> ledger) = 0,
           CASE WHEN count(*) FILTER (WHERE booked <> ledger) = 0 THEN format('%s wallets consistent', count(*))
                ELSE format('%s wallets differ, e.g. wallet %s: booked %s, entries %s',
                            count(*) FILTER (WHERE booked <> ledger),
                            min(wallet_id) FILTER (WHERE booked <> ledger),
                            (array_agg(booked ORDER BY wallet_id) FILTER (WHERE booked <> ledger))[1],
                            (array_agg(ledger ORDER BY wallet_id) FILTER (WHERE booked <> ledger))[1]) END
    FROM bad;

    RETURN QUERY
    WITH sums AS (
        SELECT p.code, w.currency, sum(wp.posted) AS total
        FROM @extschema@.wallet w JOIN @extschema@.program p USING (program_id)
        JOIN @extschema@.wallet_part wp ON wp.wallet_id = w.wallet_id
        WHERE pid IS NULL OR w.program_id = pid
        GROUP BY p.code, w.currency)
    SELECT 'wallets: every currency sums to zero, external account included', count(*) FILTER (WHERE total <> 0) = 0,
           CASE WHEN count(*) FILTER (WHERE total <> 0) = 0 THEN format('%s programme currencies balanced', count(*))
                ELSE format('%s programme currencies unbalanced, e.g. %s %s: %s', count(*) FILTER (WHERE total <> 0),
                            min(code) FILTER (WHERE total <> 0),
                            (array_agg(currency ORDER BY code, currency) FILTER (WHERE total <> 0))[1],
                            (array_agg(total ORDER BY code, currency) FILTER (WHERE total <> 0))[1]) END
    FROM sums;

    RETURN QUERY
    WITH parts AS (
        SELECT wp.*, w.allow_overdraft,
               COALESCE((SELECT sum(t.amount) FROM @extschema@.wallet_transfer t
                         WHERE t.debit_wallet = wp.wallet_id AND t.was_pending AND t.debit_part = wp.part AND t.state = 'pending'), 0) AS held_out,
               COALESCE((SELECT sum(t.amount) FROM @extschema@.wallet_transfer t
                         WHERE t.credit_wallet = wp.wallet_id AND t.was_pending AND t.credit_part = wp.part AND t.state = 'pending'), 0) AS held_in,
               COALESCE((SELECT sum(d.amount) FROM @extschema@.wallet_debt d
                         WHERE d.wallet_id = wp.wallet_id AND wp.part = 0), 0) AS owed
        FROM @extschema@.wallet_part wp JOIN @extschema@.wallet w USING (wallet_id)
        WHERE pid IS NULL OR w.program_id = pid),
    bad AS (
        SELECT * FROM parts
        WHERE pending_debits <> held_out OR pending_credits <> held_in OR debt <> owed
           OR (NOT allow_overdraft AND posted - pending_debits < 0) OR debt < 0)
    SELECT 'wallets: no overdraft; holds and debt match pending transfers and debts', count(*) = 0,
           CASE WHEN count(*) = 0 THEN format('%s balance parts consistent', (SELECT count(*) FROM parts))
                ELSE format('%s parts differ, e.g. wallet %s part %s: posted %s, held out %s (transfers %s), in %s (transfers %s), debt %s (debts %s)',
                            count(*), min(wallet_id), (array_agg(part ORDER BY wallet_id, part))[1],
                            (array_agg(posted ORDER BY wallet_id, part))[1],
                            (array_agg(pending_debits ORDER BY wallet_id, part))[1], (array_agg(held_out ORDER BY wallet_id, part))[1],
                            (array_agg(pending_credits ORDER BY wallet_id, part))[1], (array_agg(held_in ORDER BY wallet_id, part))[1],
                            (array_agg(debt ORDER BY wallet_id, part))[1], (array_agg(owed ORDER BY wallet_id, part))[1]) END
    FROM bad;

    RETURN QUERY
    WITH r AS (
        SELECT x.sku, x.stock, x.redeemed,
               (SELECT COALESCE(sum(d.qty), 0) FROM @extschema@.reward_redemption d
                WHERE d.reward_id = x.reward_id AND d.state = 'redeemed') AS counted
        FROM @extschema@.reward x WHERE pid IS NULL OR x.program_id = pid)
    SELECT 'rewards: stock taken matches redemptions, never above stock',
           count(*) FILTER (WHERE redeemed <> counted OR redeemed > stock) = 0,
           CASE WHEN count(*) FILTER (WHERE redeemed <> counted OR redeemed > stock) = 0
                THEN format('%s rewards consistent', count(*))
                ELSE format('%s rewards differ, e.g. "%s": taken %s, redemptions %s, stock %s',
                            count(*) FILTER (WHERE redeemed <> counted OR redeemed > stock),
                            min(sku) FILTER (WHERE redeemed <> counted OR redeemed > stock),
                            (array_agg(redeemed ORDER BY sku) FILTER (WHERE redeemed <> counted OR redeemed > stock))[1],
                            (array_agg(counted ORDER BY sku) FILTER (WHERE redeemed <> counted OR redeemed > stock))[1],
                            COALESCE((array_agg(stock ORDER BY sku) FILTER (WHERE redeemed <> counted OR redeemed > stock))[1]::text, 'unlimited')) END
    FROM r;
END
$$;
COMMENT ON FUNCTION @extschema@._verify(oid, text) IS 'Internal body of verify.';
