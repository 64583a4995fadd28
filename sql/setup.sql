-- setup: catalogue checks on the installed extension (SPEC sections 1, 10).
-- Runs first.  Every "violations" query below must list zero rows.
SET timezone = 'UTC';
\set VERBOSITY sqlstate

-- The extension lives in schema loyalty and cannot be moved.
SELECT e.extname, n.nspname AS schema, e.extrelocatable
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'loyalty';
SELECT name, superuser, trusted, relocatable, schema
FROM pg_available_extension_versions
WHERE name = 'loyalty' AND version = (SELECT extversion FROM pg_extension WHERE extname = 'loyalty');
CREATE SCHEMA regress_ly_elsewhere;
\set VERBOSITY default
ALTER EXTENSION loyalty SET SCHEMA regress_ly_elsewhere;     -- fails: not relocatable
\set VERBOSITY sqlstate
DROP SCHEMA regress_ly_elsewhere;

-- The three group roles exist, cannot log in, are not superusers.
SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb
FROM pg_roles WHERE rolname IN ('loyalty_admin', 'loyalty_app', 'loyalty_reader')
ORDER BY rolname;

-- They survive DROP EXTENSION (cluster-wide, never dropped with it), and a
-- new CREATE EXTENSION reuses them.
DROP EXTENSION loyalty;
SELECT count(*) AS roles_left FROM pg_roles
WHERE rolname IN ('loyalty_admin', 'loyalty_app', 'loyalty_reader');
-- A schema "loyalty" created beforehand by another role is refused: its
-- owner could drop or add objects among the extension's.
-- (DROP EXTENSION leaves the schema itself: it is not a member.)
DROP SCHEMA loyalty;
CREATE ROLE regress_ly_squatter;
CREATE SCHEMA loyalty AUTHORIZATION regress_ly_squatter;
\set VERBOSITY terse
CREATE EXTENSION loyalty;
\set VERBOSITY default
DROP SCHEMA loyalty;
DROP ROLE regress_ly_squatter;
CREATE EXTENSION loyalty;
SELECT count(*) AS roles_now FROM pg_roles
WHERE rolname IN ('loyalty_admin', 'loyalty_app', 'loyalty_reader');

-- Violations: functions or procedures of the schema without a COMMENT.
SELECT p.oid::regprocedure AS routine_without_comment
FROM pg_proc p
WHERE p.pronamespace = 'loyalty'::regnamespace
  AND obj_description(p.oid, 'pg_proc') IS NULL
ORDER BY p.oid::regprocedure::text;

-- Violations: routines of the schema that are not members of the extension.
SELECT p.oid::regprocedure AS routine_not_in_extension
FROM pg_proc p
WHERE p.pronamespace = 'loyalty'::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                    AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                    AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'loyalty'))
ORDER BY p.oid::regprocedure::text;

-- Violations: SECURITY DEFINER routines whose search_path is not pinned, or
-- pinned without pg_temp last (an unlisted pg_temp is searched first).
SELECT count(*) > 0 AS has_security_definer_routines
FROM pg_proc p WHERE p.pronamespace = 'loyalty'::regnamespace AND p.prosecdef;
SELECT p.oid::regprocedure AS definer_without_pinned_search_path, p.proconfig
FROM pg_proc p
WHERE p.pronamespace = 'loyalty'::regnamespace AND p.prosecdef
  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c(setting)
                  WHERE c.setting ~ '^search_path=pg_catalog, *(.*, *)?pg_temp$')
ORDER BY p.oid::regprocedure::text;

-- Violations: PUBLIC may execute a routine of the schema.
SELECT p.oid::regprocedure AS routine_executable_by_public
FROM pg_proc p, aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a
WHERE p.pronamespace = 'loyalty'::regnamespace
  AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'
ORDER BY p.oid::regprocedure::text;

-- Violations: an internal (_-prefixed) routine executable by any role but
-- its owner (they are reached only through the C trampoline, src/api.c).
SELECT p.oid::regprocedure AS internal_routine, r.rolname
FROM pg_proc p
CROSS JOIN (VALUES ('loyalty_app'), ('loyalty_admin'), ('loyalty_reader')) AS r(rolname)
WHERE p.pronamespace = 'loyalty'::regnamespace AND p.proname LIKE '\_%'
  AND has_function_privilege(r.rolname, p.oid, 'EXECUTE')
ORDER BY p.oid::regprocedure::text, 2;

-- Who may execute each public routine.
SELECT p.oid::regprocedure AS routine,
       has_function_privilege('loyalty_app', p.oid, 'EXECUTE') AS app,
       has_function_privilege('loyalty_admin', p.oid, 'EXECUTE') AS admin,
       has_function_privilege('loyalty_reader', p.oid, 'EXECUTE') AS reader
FROM pg_proc p
WHERE p.pronamespace = 'loyalty'::regnamespace AND p.proname NOT LIKE '\_%'
ORDER BY p.oid::regprocedure::text;

-- Violations: a role other than the owner (or PUBLIC) may write a relation
-- of the schema.
SELECT c.relname, r.rolname, w.priv
FROM pg_class c
CROSS JOIN (VALUES ('loyalty_app'), ('loyalty_admin'), ('loyalty_reader')) AS r(rolname)
CROSS JOIN (VALUES ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) AS w(priv)
WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND has_table_privilege(r.rolname, c.oid, w.priv)
ORDER BY 1, 2, 3;
SELECT c.relname, a.privilege_type
FROM pg_class c, aclexplode(COALESCE(c.relacl, acldefault('r', c.relowner))) a
WHERE c.relnamespace = 'loyalty'::regnamespace AND a.grantee = 0
ORDER BY 1, 2;

-- Violations: a role may use or change a sequence of the schema.
SELECT c.relname, r.rolname, s.priv
FROM pg_class c
CROSS JOIN (VALUES ('loyalty_app'), ('loyalty_admin'), ('loyalty_reader')) AS r(rolname)
CROSS JOIN (VALUES ('USAGE'), ('SELECT'), ('UPDATE')) AS s(priv)
WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind = 'S'
  AND has_sequence_privilege(r.rolname, c.oid, s.priv)
ORDER BY 1, 2, 3;

-- Who may read each table and view.
SELECT c.relname, c.relkind,
       has_table_privilege('loyalty_app', c.oid, 'SELECT') AS app,
       has_table_privilege('loyalty_admin', c.oid, 'SELECT') AS admin,
       has_table_privilege('loyalty_reader', c.oid, 'SELECT') AS reader
FROM pg_class c
WHERE c.relnamespace = 'loyalty'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY 1;

-- The schema: the three roles may look it up; nobody but the owner may
-- create in it; PUBLIC has nothing.
SELECT r.rolname,
       has_schema_privilege(r.rolname, 'loyalty', 'USAGE') AS usage,
       has_schema_privilege(r.rolname, 'loyalty', 'CREATE') AS "create"
FROM (VALUES ('loyalty_app'), ('loyalty_admin'), ('loyalty_reader')) AS r(rolname)
ORDER BY 1;
SELECT a.privilege_type AS public_schema_privilege
FROM pg_namespace n, aclexplode(COALESCE(n.nspacl, acldefault('n', n.nspowner))) a
WHERE n.nspname = 'loyalty' AND a.grantee = 0;
