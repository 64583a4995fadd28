-- api.sql: internal helpers shared by the SQL-implemented API functions.
--
-- Public functions implemented in SQL are declared LANGUAGE C with the
-- symbol ly_call_internal (src/api.c): it calls loyalty._NAME(caller oid,
-- args...) with the role that really called, which a SECURITY DEFINER body
-- could not otherwise know.  The _NAME functions are executable by their
-- owner only (grants.sql), so nobody can pass a forged caller.

-- The programme with this code; unknown codes, and programmes the calling
-- role may not use (grant_program), raise LY003.
CREATE FUNCTION @extschema@._program_row(code text)
RETURNS @extschema@.program
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.program;
BEGIN
    IF code IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'program must not be NULL';
    END IF;
    SELECT * INTO p FROM @extschema@.program WHERE program.code = _program_row.code;
    -- a programme the calling role may not use (grant_program, tenants.sql)
    -- does not exist for it
    IF NOT FOUND OR NOT @extschema@.program_visible(p.program_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'LY003',
            MESSAGE = format('program "%s" does not exist', code),
            HINT = 'Create it with loyalty.create_program().';
    END IF;
    RETURN p;
END
$$;
COMMENT ON FUNCTION @extschema@._program_row(text) IS 'Internal: the programme with this code, or error LY003.';

-- Raise null_value_not_allowed naming the argument when value is NULL.
CREATE FUNCTION @extschema@._require(value anyelement, argname text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('%s must not be NULL', argname);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._require(anyelement, text) IS 'Internal: raise 22004 naming the argument when it is NULL.';

-- Raise 22004 / 22008 unless `at` is a finite instant (as C functions do).
CREATE FUNCTION @extschema@._require_instant(at timestamptz, argname text DEFAULT 'at')
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF at IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = format('%s must not be NULL', argname);
    END IF;
    IF NOT isfinite(at) THEN
        RAISE EXCEPTION USING ERRCODE = 'datetime_field_overflow', MESSAGE = format('%s must be a finite timestamp', argname);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._require_instant(timestamptz, text) IS 'Internal: raise unless an instant is given and finite.';

-- Raise 22023 unless `code` is a valid code for a `what` (program, rule, ...).
CREATE FUNCTION @extschema@._require_code(code text, what text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF code !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid %s code "%s"', what, code),
            DETAIL = 'A code is 1 to 63 letters, digits, "_", ".", ":" or "-", starting with a letter or digit.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._require_code(text, text) IS 'Internal: raise 22023 for a malformed definition code.';

-- Append to the audit log as the calling role.
CREATE FUNCTION @extschema@._audit(caller oid, program_id bigint, action text, object text, detail jsonb)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO @extschema@.audit_log (role_name, program_id, action, object, detail)
    SELECT r.rolname, _audit.program_id, _audit.action, _audit.object, COALESCE(_audit.detail, '{}')
    FROM pg_catalog.pg_roles r WHERE r.oid = _audit.caller;
$$;
COMMENT ON FUNCTION @extschema@._audit(oid, bigint, text, text, jsonb) IS 'Internal: write one audit_log row for the calling role.';
