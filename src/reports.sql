-- reports.sql: reporting views for analysts (SPEC section 9), points part.

-- Booked ledger entries per programme and day (programme time zone).
CREATE VIEW @extschema@.points_daily WITH (security_barrier) AS
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
  AND @extschema@.program_visible(p.program_id)
GROUP BY p.code, 2;
COMMENT ON VIEW @extschema@.points_daily IS
    'Booked points entries per programme and local day: earned, spent, expired (as booked by run_expiry), reversed (net points taken back), adjusted, transferred.';

-- What the programme owes its members now.  Members without debt are summed
-- from their lots; the few with debt go through balance(), which pays the
-- debt out of lots in the order they became available.
CREATE VIEW @extschema@.points_liability WITH (security_barrier) AS
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
    WHERE @extschema@.program_visible(m.program_id)   -- before balance() below
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
WHERE @extschema@.program_visible(p.program_id)
GROUP BY p.program_id, p.code, p.currency, p.settings;
COMMENT ON VIEW @extschema@.points_liability IS
    'Outstanding points per programme now, their money value (point_value, rounded half-up), pending points, what expires within 30/60/90 days, and debt still owed.';

-- Wallet money moved per programme, local day, currency, wallet role and
-- kind: the posted entries (each transfer counted once, from its debit side).
CREATE VIEW @extschema@.wallet_activity_daily WITH (security_barrier) AS
SELECT p.code AS program,
       (e.at AT TIME ZONE (p.settings ->> 'timezone'))::date AS day,
       w.currency,
       w.role AS from_role,
       cw.role AS to_role,
       t.kind,
       count(*)::bigint AS transfers,
       sum(-e.amount)::bigint AS amount
FROM @extschema@.wallet_entry e
JOIN @extschema@.wallet w ON w.wallet_id = e.wallet_id
JOIN @extschema@.wallet_transfer t ON t.transfer_id = e.transfer_id
JOIN @extschema@.wallet cw ON cw.wallet_id = t.credit_wallet
JOIN @extschema@.program p ON p.program_id = w.program_id
WHERE e.amount < 0 AND @extschema@.program_visible(p.program_id)
GROUP BY p.code, 2, w.currency, w.role, cw.role, t.kind;
COMMENT ON VIEW @extschema@.wallet_activity_daily IS
    'Posted wallet transfers per programme and local day, by currency, debit and credit wallet role (member, program, external, revenue) and kind: count and amount.';

-- Points-mall activity per programme, local day and reward.
CREATE VIEW @extschema@.reward_redemptions_daily WITH (security_barrier) AS
SELECT p.code AS program, x.day, r.sku, r.name,
       sum(x.redemptions)::bigint AS redemptions,
       sum(x.units)::bigint AS units,
       sum(x.points)::bigint AS points,
       sum(x.cancellations)::bigint AS cancellations,
       sum(x.units_returned)::bigint AS units_returned,
       sum(x.points_returned)::bigint AS points_returned
FROM (
    SELECT d.reward_id, d.program_id, d.at AS t, 1 AS redemptions, d.qty AS units, d.points,
           0 AS cancellations, 0 AS units_returned, 0::bigint AS points_returned
    FROM @extschema@.reward_redemption d
    UNION ALL
    SELECT d.reward_id, d.program_id, d.cancelled_at, 0, 0, 0, 1, d.qty, d.points
    FROM @extschema@.reward_redemption d WHERE d.state = 'cancelled'
) x0
CROSS JOIN LATERAL (SELECT x0.*, (x0.t AT TIME ZONE (SELECT p2.settings ->> 'timezone' FROM @extschema@.program p2
                                                   WHERE p2.program_id = x0.program_id))::date AS day) x
JOIN @extschema@.reward r ON r.reward_id = x.reward_id
JOIN @extschema@.program p ON p.program_id = x.program_id
WHERE @extschema@.program_visible(p.program_id)
GROUP BY p.code, x.day, r.sku, r.name;
COMMENT ON VIEW @extschema@.reward_redemptions_daily IS
    'Points-mall redemptions per programme, local day and reward: redemptions, units and points spent, and cancellations with the units and points returned (on the day cancelled).';
