-- wallet_hot.check.sql: run after the last round (run_bench.sh): verify()
-- all ok and one posted cashback from the budget wallet per pgbench transaction.
\set kind cashback
\ir wallets_check.psql
