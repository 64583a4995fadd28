-- baseline: orders_untracked_syncoff
-- clients: 1
-- pgoptions: -c synchronous_commit=off
-- rounds: 6
-- target_overhead_us: 150
-- orders_syncoff: orders.sql at 1 client with synchronous_commit = off (no
-- wait for the WAL flush), so the time per order is CPU and round trips, and
-- 1e6/tps - 1e6/(baseline tps) is what the trigger adds per order (paid then
-- completed), in microseconds.
\set m random(1, :members)
BEGIN;
INSERT INTO orders (customer, amount, status, lines)
VALUES ('c' || :m, 21470, 'paid',
        '[{"sku": "SKU-3", "category": "fresh", "price": 1990, "qty": 2},
          {"sku": "SKU-12", "category": "home", "price": 4590},
          {"sku": "SKU-21", "category": "electronics", "price": 12900}]')
RETURNING id AS order_id \gset
UPDATE orders SET status = 'completed' WHERE id = :order_id;
END;
