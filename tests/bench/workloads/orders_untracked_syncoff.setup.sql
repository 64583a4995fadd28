-- orders_untracked_syncoff.setup.sql: the `bench` programme (5 earning rules, 3 tiers), :members
-- customers enrolled, and the order table `orders`, not tracked.
\set tracked 0
\ir orders.psql
