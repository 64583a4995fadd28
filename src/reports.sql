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
WHERE e.operation <> 'settle'           -- debt payments move no points
GROUP BY p.code, 2;
COMMENT ON VIEW @extschema@.points_daily IS
    'Booked points entries per programme and local day: earned, spent, expired (as booked by run_expiry), reversed (net points taken back), adjusted, transferred.';

-- What the programme owes its members now.
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
)
SELECT p.code AS program,
       p.currency,
       count(*) FILTER (WHERE GREATEST(x.usable - x.debt, 0) > 0) AS members_with_points,
       sum(GREATEST(x.usable - x.debt, 0))::bigint AS outstanding_points,
       round(sum(GREATEST(x.usable - x.debt, 0)) * (p.settings ->> 'point_value')::numeric)::bigint
           AS outstanding_value,
       sum(x.pending)::bigint AS pending_points,
       sum(x.exp30)::bigint AS expiring_30d,
       sum(x.exp60)::bigint AS expiring_60d,
       sum(x.exp90)::bigint AS expiring_90d,
       sum(x.debt)::bigint AS debt_points
FROM lots x
JOIN @extschema@.program p ON p.program_id = x.program_id
GROUP BY p.program_id, p.code, p.currency, p.settings;
COMMENT ON VIEW @extschema@.points_liability IS
    'Outstanding points per programme now, their money value (point_value, rounded half-up), pending points and what expires within 30/60/90 days.';
