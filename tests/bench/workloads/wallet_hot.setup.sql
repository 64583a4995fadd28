-- wallet_hot.setup.sql: the same as wallet_random.setup.sql, in its own
-- database: the funded budget wallet 3 (16 escrow parts) and :members
-- members each with one EUR wallet (member m's is wallet m + 3).
\ir wallets.psql
