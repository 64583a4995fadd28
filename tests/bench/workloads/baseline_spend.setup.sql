-- baseline_spend.setup.sql: the plain tables, as spend.setup.sql fills loyalty's.
\set initial_points 1000000
\ir plain_schema.psql
