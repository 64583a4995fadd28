-- reports.sql: reporting views for analysts (SPEC section 9), points part.

-- Booked ledger entries per programme and day (programme time zone).
CREATE VIEW @extschema@.points_daily AS
SELECT p.code AS program,
       (e.at AT TIME ZONE (p.settings ->> 'timezone'))::date AS day,
       COALESCE(sum(e.points) FILTER (WHERE e.operation = 'earn'), 0)::bigint AS earned,
       COALESCE(sum(-e.points) FILTER (WHERE e.operation = 'spend'), 0)::bigint AS spent,
       COALESCE(sum(-e.points) FILTER (WHERE e.operation = 'expire'), 0)::bigint AS expired,
       COALESCE(sum(-e.points) FILTER (WHERE e.operation = 'reverse'), 0)::bigint AS reversed,
       COALESCE(sum(e.points) FILTER (WHERE e.operation = 'adjust'), 0)::bigint AS adjusted,
       COALESCE(sum(e.points) FILTER (WHERE e.operation = 'transfer' AND e.points > 0), 0)::bigint AS transferred
FROM @extschema@.points_entry e
JOIN @extschema@.member m ON m.member_id = e.member_id
JOIN @extschema@.program p ON p.program_id = m.program_id
WHERE e.operation <> ALL (ARRAY['settle', 'release', 'hold'])   -- these move no points
GROUP BY p.code, 2;
COMMENT ON VIEW @extschema@.points_daily IS
    'Booked points entries per programme and local day: earned, spent, expired (as booked by run_expiry), reversed (net points taken back), adjusted, transferred.';

-- What the programme owes its members now.  Members without debt are summed
-- from their lots; the few with debt go through balance(), which pays the
-- debt out of lots in the order they became available.
CREATE VIEW @extschema@.points_liability AS
WITH lots AS (
    SELECT m.program_id, m.member_id, m.debt,
           COALESCE(sum(l.remaining) FILTER (WHERE l.available_at <= now()), 0) AS usable,
           COALESCE(sum(l.remaining) FILTER (WHERE l.available_at > now()), 0) AS pending,
           COALESCE(sum(l.remaining) FILTER (WHERE l.available_at <= now()
                                             AND l.expires_at <= now() + interval '30 days'), 0) AS exp30,
           COALESCE(sum(l.remaining) FILTER (WHERE l.available_at <= now()
                                             AND l.expires_at <= now() + interval '60 days'), 0) AS exp60,
           COALESCE(sum(l.remaining) FILTER (WHERE l.available_at <= now()
                                             AND l.expires_at <= now() + interval '90 days'), 0) AS exp90
    FROM @extschema@.member m
    LEFT JOIN @extschema@.points_lot l
           ON l.member_id = m.member_id AND l.remaining > 0
          AND (l.expires_at IS NULL OR l.expires_at > now())
    GROUP BY m.program_id, m.member_id, m.debt
),
owed AS (
    SELECT x.program_id, x.member_id, x.pending, x.exp30, x.exp60, x.exp90,
           x.usable AS outstanding, 0::bigint AS debt
    FROM lots x WHERE x.debt = 0
    UNION ALL
    SELECT x.program_id, x.member_id, b.pending,
           LEAST(x.exp30, GREATEST(b.available, 0)), LEAST(x.exp60, GREATEST(b.available, 0)),
           LEAST(x.exp90, GREATEST(b.available, 0)),
           GREATEST(b.available, 0), GREATEST(b.debt, -LEAST(b.available, 0))
    FROM lots x CROSS JOIN LATERAL @extschema@.balance(x.member_id, now()) b
    WHERE x.debt > 0
)
SELECT p.code AS program,
       p.currency,
       count(o.member_id) FILTER (WHERE o.outstanding > 0) AS members_with_points,
       COALESCE(sum(o.outstanding), 0)::bigint AS outstanding_points,
       round(COALESCE(sum(o.outstanding), 0) * (p.settings ->> 'point_value')::numeric)::bigint
           AS outstanding_value,
       COALESCE(sum(o.pending), 0)::bigint AS pending_points,
       COALESCE(sum(o.exp30), 0)::bigint AS expiring_30d,
       COALESCE(sum(o.exp60), 0)::bigint AS expiring_60d,
       COALESCE(sum(o.exp90), 0)::bigint AS expiring_90d,
       COALESCE(sum(o.debt), 0)::bigint AS debt_points
FROM @extschema@.program p
LEFT JOIN owed o ON o.program_id = p.program_id
GROUP BY p.program_id, p.code, p.currency, p.settings;
COMMENT ON VIEW @extschema@.points_liability IS
    'Outstanding points per programme now, their money value (point_value, rounded half-up), pending points, what expires within 30/60/90 days, and debt still owed.';
