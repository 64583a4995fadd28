-- clients: 1
-- pgoptions: -c synchronous_commit=off
-- rounds: 6
-- orders_untracked_syncoff: orders_untracked.sql at 1 client with
-- synchronous_commit = off: the baseline of orders_syncoff.
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
