-- wallet_random.check.sql: run after the last round (run_bench.sh): verify()
-- all ok and one posted member-to-member transfer per pgbench transaction.
\set kind transfer
\ir wallets_check.psql
