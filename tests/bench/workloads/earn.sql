-- baseline: baseline_earn
-- earn: one loyalty.earn of 10 points per transaction, with an explicit expiry
-- (so the lot has one), on a random member among :members, with a fresh ref
-- (random bigint: a repeated key needs the same member and ref, practically
-- impossible).
\set member random(1, :members)
\set ref random(1, 9000000000000000000)
SELECT loyalty.earn(:member, 10, 'bench', :ref, expires_at => now() + interval '365 days');
