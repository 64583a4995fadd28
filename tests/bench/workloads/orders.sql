-- baseline: orders_untracked
-- target_ratio: 0.6 16
-- rounds: 4
-- orders: one order per transaction on the tracked table `orders`: INSERT it
-- paid (a random customer among 'c1'..'c<members>', 3 cart lines, 214.70;
-- the trigger prices it with the programme's rules and the member's tier and
-- books a pending earn), then UPDATE it to completed (the trigger releases the
-- points and checks for a tier upgrade).  The order id comes from the
-- table's identity column (INSERT ... RETURNING id, pgbench gset).  Durable commits.
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
