-- orders_plain.check.sql: run after the last round (run_bench.sh) with psql
-- variables :members and :transactions.  Fails unless every pgbench
-- transaction wrote the whole set of rows: one more completed order in
-- `orders` and in porders.order_state, each with its lot (available, 35
-- points), its earn and its release entry, and the members' booked points
-- up by 35 for each.
SELECT set_config('bench.members', :'members', false),
       set_config('bench.transactions', :'transactions', false) \gset

DO $$
DECLARE
    history bigint := current_setting('bench.members')::bigint;
    transactions bigint := current_setting('bench.transactions')::bigint;
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM public.orders WHERE status = 'completed';
    IF n <> history + transactions THEN
        RAISE EXCEPTION 'bench check: % completed orders, expected % + %', n, history, transactions;
    END IF;
    SELECT count(*) INTO n
    FROM porders.order_state s
    JOIN porders.points_lot l ON l.member_id = s.member_id AND l.lot_id = s.lot_id
    WHERE s.state = 'completed' AND l.available_at = s.completed_at AND l.remaining = s.earned
      AND EXISTS (SELECT FROM porders.points_entry e WHERE e.member_id = s.member_id
                  AND e.operation = 'earn' AND e.source = 'order' AND e.ref = s.earn_ref)
      AND EXISTS (SELECT FROM porders.points_entry e WHERE e.member_id = s.member_id
                  AND e.operation = 'release' AND e.source = 'order' AND e.ref = s.earn_ref);
    RAISE NOTICE 'bench check: % orders with their rows, pgbench reported % transactions', n - history, transactions;
    IF n <> history + transactions THEN
        RAISE EXCEPTION 'bench check: % orders have their state, lot, earn and release, expected % + %',
            n, history, transactions;
    END IF;
    SELECT (SELECT sum(booked) FROM porders.member) - (SELECT sum(booked) FROM loyalty.member) INTO n;
    IF n <> 35 * transactions THEN
        RAISE EXCEPTION 'bench check: the members gained % booked points, expected 35 x %', n, transactions;
    END IF;
    RAISE NOTICE 'bench check: ok';
END
$$;
