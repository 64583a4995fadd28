-- baseline: orders_untracked
-- rounds: 4
-- orders_plain: orders.sql's two statements on the untracked table, each
-- also writing by hand, in the same statement (data-modifying WITH), the
-- rows the trigger writes for it, into plain copies of loyalty's tables
-- (orders_plain.setup.sql): the payment looks the customer key up, updates
-- the member row and inserts the lot (pending), the earn entry and the
-- order's state row; the completion looks the key up again, updates the
-- order's state row and its lot, inserts the release entry and updates the
-- member row.  None of the trigger's logic: a fixed 35 points (what the
-- rules give these orders below gold), no rule, tier, state or key check,
-- no lock before the write.  Durable commits.  Not a target: it tells how
-- much of the tracked order's cost is the row writes themselves.
\set m random(1, :members)
BEGIN;
WITH o AS (
    INSERT INTO orders (customer, amount, status, lines)
    VALUES ('c' || :m, 21470, 'paid',
            '[{"sku": "SKU-3", "category": "fresh", "price": 1990, "qty": 2},
              {"sku": "SKU-12", "category": "home", "price": 4590},
              {"sku": "SKU-21", "category": "electronics", "price": 12900}]')
    RETURNING id, customer, amount, created_at
), k AS (
    SELECT ck.member_id, o.id::text AS order_id, o.amount, o.created_at AS at
    FROM o JOIN porders.customer_key ck ON ck.external_id = o.customer AND ck.program_id = 1
), mem AS (
    UPDATE porders.member m SET booked = booked + 35, lifetime_earned = lifetime_earned + 35,
                                last_entry_at = k.at
    FROM k WHERE m.member_id = k.member_id
    RETURNING m.member_id
), lot AS (
    INSERT INTO porders.points_lot (member_id, lot_id, points, remaining, created_at, available_at)
    SELECT k.member_id, nextval('porders.entry_id_seq'), 35, 35, k.at, 'infinity'
    FROM k JOIN mem USING (member_id)
    RETURNING member_id, lot_id
), earn AS (
    INSERT INTO porders.points_entry (member_id, entry_id, at, operation, points, source, ref,
                                      qualifying, lots, lot_points)
    SELECT k.member_id, nextval('porders.entry_id_seq'), k.at, 'earn', 35, 'order', k.order_id,
           true, ARRAY[lot.lot_id], ARRAY[35::bigint]
    FROM k JOIN lot USING (member_id)
    RETURNING member_id
), state AS (
    INSERT INTO porders.order_state (member_id, tracked_id, order_id, program_id, first_paid_at,
                                     amount, earned, earn_ref, lot_id, paid_at, state, updated_at, priced)
    SELECT k.member_id, 1, k.order_id, 1, k.at, k.amount, 35, k.order_id, lot.lot_id, k.at, 'paid', k.at,
           '{"tier": null, "rules": {"base": 29, "fresh_base": 5}, "amount": 21470, "points": 35,
             "multipliers": ["sku_triple"], "tier_multiplier": 1}'
    FROM k JOIN lot USING (member_id) JOIN earn USING (member_id)
)
SELECT id AS order_id FROM o \gset
WITH o AS (
    UPDATE orders SET status = 'completed' WHERE id = :order_id
    RETURNING id, customer, created_at
), k AS (
    SELECT ck.member_id, o.id::text AS order_id, o.created_at AS at
    FROM o JOIN porders.customer_key ck ON ck.external_id = o.customer AND ck.program_id = 1
), state AS (
    UPDATE porders.order_state s SET state = 'completed', completed_at = k.at, updated_at = k.at
    FROM k WHERE s.member_id = k.member_id AND s.tracked_id = 1 AND s.order_id = k.order_id
    RETURNING s.member_id, s.lot_id
), lot AS (
    UPDATE porders.points_lot l SET available_at = k.at, qualifying_from = k.at
    FROM state JOIN k USING (member_id)
    WHERE l.member_id = state.member_id AND l.lot_id = state.lot_id
    RETURNING l.member_id, l.lot_id, l.remaining
), rel AS (
    INSERT INTO porders.points_entry (member_id, entry_id, at, operation, points, source, ref, detail)
    SELECT k.member_id, nextval('porders.entry_id_seq'), k.at, 'release', 0, 'order', k.order_id,
           jsonb_build_object('lot', lot.lot_id, 'points', lot.remaining, 'available_at', k.at,
                              'expires_at', NULL, 'qualifying', true)
    FROM k JOIN lot USING (member_id)
    RETURNING member_id
)
UPDATE porders.member m SET cache_available = cache_available + 35, last_entry_at = k.at
FROM k JOIN rel USING (member_id) WHERE m.member_id = k.member_id;
END;
