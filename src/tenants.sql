-- tenants.sql: programmes a role may use (SPEC section 10, tenant isolation).
--
-- grant_program(role, program) limits a role to the programmes granted to
-- it: every API function refuses (42501; LY003 for a programme code, as if
-- it did not exist) what belongs to another programme, and the reporting
-- views (security barriers) show only its programmes' rows.  A role that
-- has the privileges of a limited role (a member of it with INHERIT) is
-- limited too, to the grants of all the limited roles it has the
-- privileges of; a session whose user is limited stays limited after SET
-- ROLE.  Superusers are never limited.  The checks are made in C at the API
-- boundary (src/tenants.c), against the role that called.

-- A limited role is kept as regrole, plus the name it was limited under:
-- the limit holds for the role with that oid (a rename keeps it) and for
-- the role that has that name now (one re-created after a drop), both when
-- they differ, so a limit is never lost to a rename, a drop or a restore
-- elsewhere.  pg_dump writes the role's name (a restore needs the roles
-- first: pg_dumpall --roles-only).
CREATE TABLE @extschema@.program_limit (
    role       regrole PRIMARY KEY,
    role_name  name NOT NULL,           -- limited under: a role given this name later is limited too
    limited_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.program_limit IS 'Roles limited to the programmes program_grant gives them (grant_program).';

CREATE TABLE @extschema@.program_grant (
    role       regrole NOT NULL REFERENCES @extschema@.program_limit ON DELETE CASCADE,
    program_id bigint NOT NULL REFERENCES @extschema@.program,
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (role, program_id)
);
COMMENT ON TABLE @extschema@.program_grant IS 'The programmes a limited role may use.';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.program_limit', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.program_grant', '');

-- Every change of either table, by grant_program, revoke_program or a
-- restore's COPY, makes every backend reload them when it commits.
CREATE FUNCTION @extschema@._program_grants_changed()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ly_program_grants_changed';
COMMENT ON FUNCTION @extschema@._program_grants_changed() IS
    'Internal trigger: every backend reloads the programme grants when the transaction commits.';
CREATE TRIGGER program_limit_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON @extschema@.program_limit FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._program_grants_changed();
CREATE TRIGGER program_grant_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON @extschema@.program_grant FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._program_grants_changed();
-- also under session_replication_role = replica (logical replication's apply)
ALTER TABLE @extschema@.program_limit ENABLE ALWAYS TRIGGER program_limit_changed;
ALTER TABLE @extschema@.program_grant ENABLE ALWAYS TRIGGER program_grant_changed;

-- The checks (tenants.c).  program_visible is what the views filter with;
-- it is public (a reader needs it to read the views).
CREATE FUNCTION @extschema@._program_visible_support(internal)
RETURNS internal
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_program_visible_support';
COMMENT ON FUNCTION @extschema@._program_visible_support(internal) IS
    'Internal: planner support of program_visible (keeps every row for a role that is not limited).';
CREATE FUNCTION @extschema@.program_visible(program_id bigint)
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
SUPPORT @extschema@._program_visible_support
AS 'MODULE_PATHNAME', 'ly_program_visible_sql';
COMMENT ON FUNCTION @extschema@.program_visible(bigint) IS
    'Whether the calling role may use this programme: false when grant_program limits it to others.';

CREATE FUNCTION @extschema@._require_program(program_id bigint)
RETURNS void
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_require_program_sql';
COMMENT ON FUNCTION @extschema@._require_program(bigint) IS
    'Internal: raise 42501 unless the role at the API boundary may use this programme.';

CREATE FUNCTION @extschema@._require_unlimited(what text)
RETURNS void
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_require_unlimited_sql';
COMMENT ON FUNCTION @extschema@._require_unlimited(text) IS
    'Internal: raise 42501 if the role at the API boundary is limited to some programmes.';

-- The role named, or 42704.
CREATE FUNCTION @extschema@._role_named(role name)
RETURNS oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r oid;
BEGIN
    PERFORM @extschema@._require(role, 'role');
    SELECT a.oid INTO r FROM pg_catalog.pg_roles a WHERE a.rolname = role;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('role "%s" does not exist', role);
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION @extschema@._role_named(name) IS 'Internal: the oid of the role with this name, or 42704.';

-- Who may manage limits: an administrator that is not limited itself.
CREATE FUNCTION @extschema@._require_tenant_admin(caller oid, what text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT @extschema@._is_admin(caller) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('permission denied for %s', what),
            HINT = 'Grant the role loyalty_admin to the role that manages tenants.';
    END IF;
    PERFORM @extschema@._require_unlimited(what);
END
$$;
COMMENT ON FUNCTION @extschema@._require_tenant_admin(oid, text) IS
    'Internal: raise 42501 unless the caller is an administrator and not limited.';

-- grant_program -------------------------------------------------------------

CREATE FUNCTION @extschema@.grant_program(role name, program text)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.grant_program(name, text) IS
    'Limit a role to the programmes granted to it, and grant it this one (idempotent; audited).';

-- Why a role cannot be limited (NULL: it can).  A limit is checked by the
-- API; a role that reads the tables directly, or can give itself more
-- rights or become a superuser, would not be held by it.
CREATE FUNCTION @extschema@._unlimitable(r oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN a.rolsuper THEN 'is a superuser'
        WHEN a.rolcreaterole THEN 'has CREATEROLE, so it could grant itself other roles'
        WHEN pg_catalog.pg_has_role(r, 'loyalty_admin', 'MEMBER') THEN 'is a member of loyalty_admin, which reads every table of the extension'
        WHEN pg_catalog.pg_has_role(r, 'pg_read_all_data', 'MEMBER') THEN 'is a member of pg_read_all_data, which reads every table'
        WHEN pg_catalog.pg_has_role(r, 'pg_write_all_data', 'MEMBER') THEN 'is a member of pg_write_all_data, which writes every table'
        WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles s
                     WHERE s.rolsuper AND s.oid <> r AND pg_catalog.pg_has_role(r, s.oid, 'MEMBER'))
            THEN 'is a member of a superuser role'
        END
    FROM pg_catalog.pg_roles a WHERE a.oid = r
$$;
COMMENT ON FUNCTION @extschema@._unlimitable(oid) IS 'Internal: why grant_program cannot limit this role, or NULL.';

CREATE FUNCTION @extschema@._grant_program(caller oid, role name, program text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r oid := @extschema@._role_named(role);
    p @extschema@.program;
    why text;
BEGIN
    PERFORM @extschema@._require_tenant_admin(caller, 'loyalty.grant_program()');
    p := @extschema@._program_row(program);
    why := @extschema@._unlimitable(r);
    IF why IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('role "%s" cannot be limited to programmes: it %s', role, why),
            DETAIL = 'A limit holds at the API; this role would not be held by it.',
            HINT = 'Limit a role that has loyalty_app''s or loyalty_reader''s privileges and nothing more.';
    END IF;
    INSERT INTO @extschema@.program_limit (role, role_name) VALUES (r::regrole, role) ON CONFLICT DO NOTHING;
    INSERT INTO @extschema@.program_grant (role, program_id) VALUES (r::regrole, p.program_id)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        PERFORM @extschema@._audit(caller, p.program_id, 'grant_program', role, '{}');
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._grant_program(oid, name, text) IS 'Internal body of grant_program.';

-- revoke_program ------------------------------------------------------------

CREATE FUNCTION @extschema@.revoke_program(role name, program text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.revoke_program(name, text) IS
    'Take a programme back from a limited role, which stays limited to the others (possibly none); with no programme, lift the limit (audited).';

-- The limits of the role named: the one it has, and any kept under its
-- name (a dropped or renamed role's), so that every limit that holds for
-- it can be lifted.
CREATE FUNCTION @extschema@._revoke_program(caller oid, role name, program text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r oid;
    limits regrole[];
    p @extschema@.program;
BEGIN
    PERFORM @extschema@._require(role, 'role'),
            @extschema@._require_tenant_admin(caller, 'loyalty.revoke_program()');
    SELECT a.oid INTO r FROM pg_catalog.pg_roles a WHERE a.rolname = _revoke_program.role;
    SELECT array_agg(l.role) INTO limits FROM @extschema@.program_limit l
    WHERE l.role = r OR l.role_name = _revoke_program.role;
    IF r IS NULL AND limits IS NULL THEN
        PERFORM @extschema@._role_named(role);   -- 42704
    END IF;
    IF program IS NULL THEN
        DELETE FROM @extschema@.program_limit l WHERE l.role = ANY (limits);   -- and its grants
        IF FOUND THEN
            PERFORM @extschema@._audit(caller, NULL, 'revoke_program', role, '{"limit": "lifted"}');
        END IF;
        RETURN;
    END IF;
    p := @extschema@._program_row(program);
    DELETE FROM @extschema@.program_grant g WHERE g.role = ANY (limits) AND g.program_id = p.program_id;
    IF FOUND THEN
        PERFORM @extschema@._audit(caller, p.program_id, 'revoke_program', role, '{}');
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._revoke_program(oid, name, text) IS 'Internal body of revoke_program.';
