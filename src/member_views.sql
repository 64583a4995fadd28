-- member_views.sql: reporting views about members and their orders (SPEC
-- section 9).  Orders count from loyalty.order_state: an order counts once
-- paid or completed, its spend is its amount less partial refunds; refunded
-- and cancelled orders do not count.  Balances come from points() (the read
-- cache) and the open lots.  Money buckets assume two decimal places.

-- Per member: what the order history says (one row per member with orders).
CREATE VIEW @extschema@._member_orders AS
SELECT o.member_id,
       count(*) FILTER (WHERE o.state = ANY (ARRAY['paid','completed'])) AS orders,
       count(*) FILTER (WHERE o.state = 'completed') AS completed_orders,
       COALESCE(sum(o.amount - o.refunded) FILTER (WHERE o.state = ANY (ARRAY['paid','completed'])), 0)::bigint AS spend,
       min(o.first_paid_at) FILTER (WHERE o.state = ANY (ARRAY['paid','completed'])) AS first_order,
       max(o.paid_at) FILTER (WHERE o.state = ANY (ARRAY['paid','completed'])) AS last_order,
       max(o.completed_at) FILTER (WHERE o.state = 'completed') AS last_completed
FROM @extschema@.order_state o
GROUP BY o.member_id;
COMMENT ON VIEW @extschema@._member_orders IS 'Internal: per member order count, spend and dates.';

CREATE VIEW @extschema@.member_overview WITH (security_barrier) AS
SELECT p.code AS program, m.member_id AS member, m.external_id, m.tier,
       @extschema@.points(m.member_id) AS available,
       COALESCE((SELECT sum(l.remaining) FROM @extschema@.points_lot l
                 WHERE l.member_id = m.member_id AND l.remaining > 0
                   AND l.available_at > pg_catalog.now()
                   AND (l.expires_at IS NULL OR l.expires_at > pg_catalog.now())), 0)::bigint AS pending,
       m.lifetime_earned AS lifetime,
       m.debt,
       COALESCE(mo.orders, 0) AS orders,
       COALESCE(mo.spend, 0) AS spend,
       mo.first_order, mo.last_order,
       m.joined_at
FROM @extschema@.member m
JOIN @extschema@.program p ON p.program_id = m.program_id
LEFT JOIN @extschema@._member_orders mo ON mo.member_id = m.member_id
WHERE @extschema@.program_visible(m.program_id);
COMMENT ON VIEW @extschema@.member_overview IS 'Per member: tier, available and pending points, lifetime points, orders, spend, first and last order.';

CREATE VIEW @extschema@.tier_distribution WITH (security_barrier) AS
WITH counts AS (
    SELECT m.program_id, m.tier, count(*) AS members
    FROM @extschema@.member m GROUP BY m.program_id, m.tier
), tiers AS (
    SELECT t.program_id, t.code, t.rank FROM @extschema@.tier t
    UNION ALL
    SELECT p.program_id, NULL, NULL FROM @extschema@.program p
    UNION ALL   -- a tier a member still holds after it was re-coded
    SELECT c.program_id, c.tier, NULL FROM counts c
    WHERE c.tier IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM @extschema@.tier t WHERE t.program_id = c.program_id AND t.code = c.tier)
)
SELECT p.code AS program, t.code AS tier, t.rank,
       COALESCE(c.members, 0) AS members,
       round(100.0 * COALESCE(c.members, 0)
             / NULLIF(sum(COALESCE(c.members, 0)) OVER (PARTITION BY t.program_id), 0), 2) AS share_pct
FROM tiers t
JOIN @extschema@.program p ON p.program_id = t.program_id
LEFT JOIN counts c ON c.program_id = t.program_id AND c.tier IS NOT DISTINCT FROM t.code
WHERE @extschema@.program_visible(p.program_id);
COMMENT ON VIEW @extschema@.tier_distribution IS 'Members and their share per tier (tier NULL: below the lowest tier).';

CREATE VIEW @extschema@.dormant_members WITH (security_barrier) AS
SELECT p.code AS program, m.member_id AS member, m.external_id, m.tier,
       mo.last_completed AS last_order,
       @extschema@.points(m.member_id) AS available,
       (p.settings ->> 'dormant_months')::int AS dormant_months
FROM @extschema@.member m
JOIN @extschema@.program p ON p.program_id = m.program_id
LEFT JOIN @extschema@._member_orders mo ON mo.member_id = m.member_id
WHERE @extschema@.program_visible(m.program_id)
  AND COALESCE(mo.last_completed, m.joined_at)
      < pg_catalog.now() - pg_catalog.make_interval(months => COALESCE((p.settings ->> 'dormant_months')::int, 6));
COMMENT ON VIEW @extschema@.dormant_members IS 'Members with no completed order in the programme''s dormant_months (members who never ordered count from joining).';

CREATE VIEW @extschema@.spend_distribution WITH (security_barrier) AS
WITH b(bucket_order, bucket, lo, hi) AS (VALUES
    (1, '0', 0::bigint, 0::bigint),
    (2, '0.01-100', 1, 10000),
    (3, '100.01-500', 10001, 50000),
    (4, '500.01-1000', 50001, 100000),
    (5, '1000.01-5000', 100001, 500000),
    (6, '5000.01+', 500001, 9223372036854775807)
), spends AS (
    SELECT m.program_id, GREATEST(COALESCE(mo.spend, 0), 0) AS spend
    FROM @extschema@.member m LEFT JOIN @extschema@._member_orders mo ON mo.member_id = m.member_id
)
SELECT p.code AS program, b.bucket, b.bucket_order,
       count(s.spend) AS members,
       round(100.0 * count(s.spend) / NULLIF(sum(count(s.spend)) OVER (PARTITION BY p.program_id), 0), 2) AS share_pct
FROM @extschema@.program p CROSS JOIN b
LEFT JOIN spends s ON s.program_id = p.program_id AND s.spend BETWEEN b.lo AND b.hi
WHERE @extschema@.program_visible(p.program_id)
GROUP BY p.program_id, p.code, b.bucket, b.bucket_order;
COMMENT ON VIEW @extschema@.spend_distribution IS 'Members per bucket of spend (paid and completed orders less refunds, in major units).';

CREATE VIEW @extschema@.purchase_frequency WITH (security_barrier) AS
WITH b(bucket_order, bucket, lo, hi) AS (VALUES
    (1, '0', 0::bigint, 0::bigint),
    (2, '1', 1, 1),
    (3, '2', 2, 2),
    (4, '3-5', 3, 5),
    (5, '6-10', 6, 10),
    (6, '11+', 11, 9223372036854775807)
), freq AS (
    SELECT m.program_id, COALESCE(mo.orders, 0) AS orders
    FROM @extschema@.member m LEFT JOIN @extschema@._member_orders mo ON mo.member_id = m.member_id
)
SELECT p.code AS program, b.bucket, b.bucket_order,
       count(f.orders) AS members,
       round(100.0 * count(f.orders) / NULLIF(sum(count(f.orders)) OVER (PARTITION BY p.program_id), 0), 2) AS share_pct
FROM @extschema@.program p CROSS JOIN b
LEFT JOIN freq f ON f.program_id = p.program_id AND f.orders BETWEEN b.lo AND b.hi
WHERE @extschema@.program_visible(p.program_id)
GROUP BY p.program_id, p.code, b.bucket, b.bucket_order;
COMMENT ON VIEW @extschema@.purchase_frequency IS 'Members per bucket of order count (paid and completed orders).';

CREATE VIEW @extschema@.rfm WITH (security_barrier) AS
WITH base AS (
    SELECT m.program_id, m.member_id, m.external_id,
           ((pg_catalog.now() AT TIME ZONE (p.settings ->> 'timezone'))::date
            - (mo.last_order AT TIME ZONE (p.settings ->> 'timezone'))::date) AS recency_days,
           mo.orders AS frequency, mo.spend AS monetary
    FROM @extschema@.member m
    JOIN @extschema@.program p ON p.program_id = m.program_id
    JOIN @extschema@._member_orders mo ON mo.member_id = m.member_id
    WHERE mo.orders > 0 AND @extschema@.program_visible(m.program_id)
)
SELECT p.code AS program, b.member_id AS member, b.external_id, b.recency_days, b.frequency, b.monetary,
       ntile(5) OVER (PARTITION BY b.program_id ORDER BY b.recency_days DESC, b.member_id) AS r_score,
       ntile(5) OVER (PARTITION BY b.program_id ORDER BY b.frequency, b.member_id) AS f_score,
       ntile(5) OVER (PARTITION BY b.program_id ORDER BY b.monetary, b.member_id) AS m_score
FROM base b JOIN @extschema@.program p ON p.program_id = b.program_id;
COMMENT ON VIEW @extschema@.rfm IS 'Recency, frequency and monetary scores 1 (lowest) to 5 (best) per member with orders, by quintile within the programme.';
