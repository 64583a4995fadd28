-- orders.setup.sql: the `bench` programme (5 earning rules, 3 tiers), :members
-- customers enrolled, and the order table `orders` tracked by loyalty.track_orders.
\set tracked 1
\ir orders.psql
