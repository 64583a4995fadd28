-- baseline_earn.setup.sql: the plain tables, as earn.setup.sql fills loyalty's.
\set initial_points 1000
\ir plain_schema.psql
