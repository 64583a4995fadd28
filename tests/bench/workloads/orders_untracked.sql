-- rounds: 4
-- orders_untracked: the same two statements as orders.sql, one transaction
-- per order, on an identical table that loyalty does not track (no trigger):
-- what the application's writes cost by themselves.
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
