-- orders_plain.setup.sql: the tracked database's state (orders.psql, the
-- trigger pricing the history), then the trigger dropped and loyalty's rows
-- copied into plain tables of schema `porders`, made with LIKE ... INCLUDING
-- ALL from loyalty's, with its storage parameters: the same columns, keys,
-- partial indexes and data, so orders_plain.sql writes the same rows and
-- index entries as the trigger does, by hand.
\set tracked 1
\ir orders.psql
SELECT loyalty.untrack_orders('public.orders') AS untracked;

CREATE SCHEMA porders;
CREATE TABLE porders.customer_key (LIKE loyalty.customer_key INCLUDING ALL);
CREATE TABLE porders.member (LIKE loyalty.member INCLUDING ALL);
CREATE TABLE porders.order_state (LIKE loyalty.order_state INCLUDING ALL);
CREATE TABLE porders.points_entry (LIKE loyalty.points_entry INCLUDING ALL);
CREATE TABLE porders.points_lot (LIKE loyalty.points_lot INCLUDING ALL);
-- LIKE copies no storage parameters: take loyalty's (its fill factors) as they are
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT c.relname, c.reloptions FROM pg_class c
             WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind = 'r' AND c.reloptions IS NOT NULL
               AND c.relname IN ('customer_key', 'member', 'order_state', 'points_entry', 'points_lot')
    LOOP
        EXECUTE format('ALTER TABLE porders.%I SET (%s)', t.relname, array_to_string(t.reloptions, ', '));
    END LOOP;
END
$$;
INSERT INTO porders.customer_key SELECT * FROM loyalty.customer_key;
INSERT INTO porders.member SELECT * FROM loyalty.member;
INSERT INTO porders.order_state SELECT * FROM loyalty.order_state;
INSERT INTO porders.points_entry SELECT * FROM loyalty.points_entry;
INSERT INTO porders.points_lot SELECT * FROM loyalty.points_lot;
CREATE SEQUENCE porders.entry_id_seq;
SELECT setval('porders.entry_id_seq', (SELECT last_value FROM loyalty.entry_id_seq)) AS entry_ids;
