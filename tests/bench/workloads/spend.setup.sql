-- spend.setup.sql: :members members (default 100000), each with 1,000,000
-- points in one lot, enough for every spend of the run.
\set initial_points 1000000
\ir members.psql
