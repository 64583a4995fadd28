-- baseline: wallet_baseline
-- target_ratio: 0.9 16
-- group: wallets
-- wallet_random: one loyalty.transfer of 100 per transaction from a random
-- member's wallet to another random member's wallet (never the same one),
-- among :members members each funded with 10^9 in setup (wallets.psql: member
-- m's wallet is m + 3), so a debit never runs short.  The ref comes from the
-- sequence bench_ref: never repeated, so no transfer is an idempotent replay.
-- Durable commits.  wallet_random.check.sql checks the run afterwards.
\set a random(1, :members)
\set b 1 + (:a + random(0, :members - 2)) % :members
\set dw :a + 3
\set cw :b + 3
SELECT loyalty.transfer(:dw, :cw, 100, 'r' || nextval('bench_ref'), 'transfer');
