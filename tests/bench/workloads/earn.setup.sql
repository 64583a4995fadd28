-- earn.setup.sql: :members members (default 100000), each with one initial lot.
\set initial_points 1000
\ir members.psql
