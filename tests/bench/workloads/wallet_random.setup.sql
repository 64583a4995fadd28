-- wallet_random.setup.sql: programme `bench`, :members members each with one
-- funded EUR wallet (member m's is wallet m + 3), the funded budget wallet 3.
\ir wallets.psql
