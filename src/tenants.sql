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

-- Roles as regrole: a renamed role stays limited and a new role given a
-- dropped one's name does not inherit its limit; pg_dump writes the name
-- and a restore resolves it (the roles must exist: pg_dumpall --roles-only).
CREATE TABLE @extschema@.program_limit (
    role       regrole PRIMARY KEY,
    limited_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.program_limit IS 'Roles limited to the programmes program_grant gives them (grant_program).';

CREATE TABLE @extschema@.program_grant (
    role       regrole NOT NULL REFERENCES @extschema@.program_limit,
    program_id bigint NOT NULL REFERENCES @extschema@.program,
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (role, program_id)
);
COMMENT ON TABLE @extschema@.program_grant IS 'The programmes a limited role may use.';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.program_limit', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.program_grant', '');

-- The checks (tenants.c).  program_visible is what the views filter with;
-- it is public (a reader needs it to read the views).
CREATE FUNCTION @extschema@.program_visible(program_id bigint)
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
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

CREATE FUNCTION @extschema@._program_grants_changed()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_program_grants_changed';
COMMENT ON FUNCTION @extschema@._program_grants_changed() IS
    'Internal: make every backend reload the programme grants when this transaction commits.';

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

-- grant_program -------------------------------------------------------------

CREATE FUNCTION @extschema@.grant_program(role name, program text)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.grant_program(name, text) IS
    'Limit a role to the programmes granted to it, and grant it this one (idempotent; audited).';

CREATE FUNCTION @extschema@._grant_program(caller oid, role name, program text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r oid := @extschema@._role_named(role);
    p @extschema@.program;
BEGIN
    IF NOT @extschema@._is_admin(caller) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'permission denied for loyalty.grant_program()',
            HINT = 'Grant the role loyalty_admin to the role that manages tenants.';
    END IF;
    p := @extschema@._program_row(program);
    IF (SELECT a.rolsuper FROM pg_catalog.pg_roles a WHERE a.oid = r) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('role "%s" is a superuser and cannot be limited to programmes', role),
            DETAIL = 'A superuser bypasses every privilege check.';
    END IF;
    IF pg_catalog.pg_has_role(r, 'loyalty_admin', 'MEMBER') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('role "%s" is a member of loyalty_admin and cannot be limited to programmes', role),
            DETAIL = 'Administrators read every table of the extension directly, so a limit would not hold for them.',
            HINT = 'Limit a role that has loyalty_app''s or loyalty_reader''s privileges.';
    END IF;
    INSERT INTO @extschema@.program_limit (role) VALUES (r::regrole) ON CONFLICT DO NOTHING;
    INSERT INTO @extschema@.program_grant (role, program_id) VALUES (r::regrole, p.program_id)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        PERFORM @extschema@._program_grants_changed();
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

CREATE FUNCTION @extschema@._revoke_program(caller oid, role name, program text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r oid;
    p @extschema@.program;
BEGIN
    IF NOT @extschema@._is_admin(caller) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'permission denied for loyalty.revoke_program()',
            HINT = 'Grant the role loyalty_admin to the role that manages tenants.';
    END IF;
    r := @extschema@._role_named(role);
    IF program IS NULL THEN
        DELETE FROM @extschema@.program_grant g WHERE g.role = r::regrole;
        DELETE FROM @extschema@.program_limit l WHERE l.role = r::regrole;
        IF FOUND THEN
            PERFORM @extschema@._program_grants_changed();
            PERFORM @extschema@._audit(caller, NULL, 'revoke_program', role, '{"limit": "lifted"}');
        END IF;
        RETURN;
    END IF;
    p := @extschema@._program_row(program);
    DELETE FROM @extschema@.program_grant g WHERE g.role = r::regrole AND g.program_id = p.program_id;
    IF FOUND THEN
        PERFORM @extschema@._program_grants_changed();
        PERFORM @extschema@._audit(caller, p.program_id, 'revoke_program', role, '{}');
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._revoke_program(oid, name, text) IS 'Internal body of revoke_program.';
