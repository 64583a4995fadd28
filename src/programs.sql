-- programs.sql: programmes, their settings, members, tags.
-- SQL bodies behind the C trampoline (see api.sql); the ledger is in C.

-- Every settings key with its default (SPEC section 2).
CREATE FUNCTION @extschema@.default_settings()
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT '{"timezone": "UTC", "points_expire_months": null, "pending_days": 0,
             "point_value": null, "tier_basis": "lifetime_points", "retain_months": 0,
             "dormant_months": 6, "allow_negative": false, "member_ids": "generated"}'::jsonb
$$;
COMMENT ON FUNCTION @extschema@.default_settings() IS 'Every programme settings key with its default value.';

-- Validate `changes` key by key and merge them into `current`.
-- A JSON null puts a key back to its default.
CREATE FUNCTION @extschema@._settings_merge(current jsonb, changes jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    v jsonb;
    result jsonb := current;
    defaults jsonb := @extschema@.default_settings();
    problem text;
BEGIN
    IF changes IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'settings must not be NULL';
    END IF;
    IF jsonb_typeof(changes) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'LY006',
            MESSAGE = format('settings must be a JSON object, got %s', jsonb_typeof(changes));
    END IF;
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(changes) AS e LOOP
        IF NOT defaults ? k THEN
            RAISE EXCEPTION USING ERRCODE = 'LY006',
                MESSAGE = format('unknown settings key "%s"', k),
                HINT = 'Known keys: ' || (SELECT string_agg(d, ', ' ORDER BY d) FROM jsonb_object_keys(defaults) AS d);
        END IF;
        IF jsonb_typeof(v) = 'null' THEN
            v := defaults -> k;
        END IF;
        problem := NULL;
        IF jsonb_typeof(v) <> 'null' THEN
            CASE k
            WHEN 'timezone' THEN
                IF jsonb_typeof(v) <> 'string'
                   OR NOT EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = v #>> '{}') THEN
                    problem := 'a time zone name such as "Asia/Shanghai"';
                END IF;
            WHEN 'points_expire_months' THEN
                IF NOT @extschema@._is_int_between(v, 1, 1200) THEN problem := 'an integer from 1 to 1200, or null for never'; END IF;
            WHEN 'pending_days' THEN
                IF NOT @extschema@._is_int_between(v, 0, 3650) THEN problem := 'an integer from 0 to 3650'; END IF;
            WHEN 'point_value' THEN
                IF jsonb_typeof(v) <> 'number' OR (v #>> '{}')::numeric NOT BETWEEN 0 AND 1000000 THEN
                    problem := 'a number of minor units from 0 to 1000000, or null';
                END IF;
            WHEN 'tier_basis' THEN
                IF NOT v <@ '["lifetime_points", "rolling_12m_points", "rolling_12m_spend"]'::jsonb
                   OR jsonb_typeof(v) <> 'string' THEN
                    problem := 'one of "lifetime_points", "rolling_12m_points", "rolling_12m_spend"';
                END IF;
            WHEN 'retain_months' THEN
                IF NOT @extschema@._is_int_between(v, 0, 1200) THEN problem := 'an integer from 0 to 1200'; END IF;
            WHEN 'dormant_months' THEN
                IF NOT @extschema@._is_int_between(v, 1, 1200) THEN problem := 'an integer from 1 to 1200'; END IF;
            WHEN 'allow_negative' THEN
                IF jsonb_typeof(v) <> 'boolean' THEN problem := 'true or false'; END IF;
            WHEN 'member_ids' THEN
                IF jsonb_typeof(v) <> 'string' OR NOT v <@ '["generated", "application"]'::jsonb THEN
                    problem := '"generated" or "application"';
                END IF;
            END CASE;
        END IF;
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'LY006',
                MESSAGE = format('invalid value for settings key "%s": %s', k, v::text),
                DETAIL = format('"%s" must be %s.', k, problem);
        END IF;
        result := jsonb_set(result, ARRAY[k], v);
    END LOOP;
    RETURN result;
END
$$;
COMMENT ON FUNCTION @extschema@._settings_merge(jsonb, jsonb) IS 'Internal: validate settings changes and merge them.';

CREATE FUNCTION @extschema@._is_int_between(v jsonb, lo numeric, hi numeric)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_typeof(v) = 'number'
       AND (v #>> '{}')::numeric = trunc((v #>> '{}')::numeric)
       AND (v #>> '{}')::numeric BETWEEN lo AND hi
$$;
COMMENT ON FUNCTION @extschema@._is_int_between(jsonb, numeric, numeric) IS 'Internal: is this JSON value an integer in [lo, hi]?';

-- Every backend caches the settings the ledger reads (src/settings.c): a
-- change sends them a relcache invalidation of loyalty.program.
CREATE FUNCTION @extschema@._settings_changed()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_settings_changed';
COMMENT ON FUNCTION @extschema@._settings_changed() IS 'Internal: make every backend drop its cached programme settings.';

-- create_program ------------------------------------------------------------

CREATE FUNCTION @extschema@.create_program(code text, name text, currency text DEFAULT 'CNY',
                                           settings jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.create_program(text, text, text, jsonb) IS
    'Create a loyalty programme; returns its id.  settings keys: see docs/points.md.';

CREATE FUNCTION @extschema@._create_program(caller oid, code text, name text, currency text, settings jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
    merged jsonb;
BEGIN
    PERFORM @extschema@._require(code, 'code'), @extschema@._require(name, 'name'),
            @extschema@._require(currency, 'currency');
    PERFORM @extschema@._require_code(code, 'program');
    IF btrim(name) = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'name must not be empty';
    END IF;
    PERFORM @extschema@._require_unlimited('loyalty.create_program()');
    IF currency !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid currency "%s"', currency),
            HINT = 'Use a three-letter ISO 4217 code in capitals, such as CNY or EUR.';
    END IF;
    merged := @extschema@._settings_merge(@extschema@.default_settings(), settings);
    INSERT INTO @extschema@.program (code, name, currency, settings)
    VALUES (code, name, currency, merged)
    ON CONFLICT ON CONSTRAINT program_code_key DO NOTHING
    RETURNING program_id INTO new_id;
    IF new_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('program "%s" already exists', code),
            HINT = 'Change its settings with loyalty.update_program().';
    END IF;
    PERFORM @extschema@._audit(caller, new_id, 'create_program', code,
        jsonb_build_object('name', name, 'currency', currency, 'settings', merged));
    RETURN new_id;
END
$$;

-- update_program ------------------------------------------------------------

CREATE FUNCTION @extschema@.update_program(program text, settings jsonb)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.update_program(text, jsonb) IS
    'Merge settings keys into a programme''s settings (validated; audited).';

CREATE FUNCTION @extschema@._update_program(caller oid, program text, settings jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.program := @extschema@._program_row(program);
    merged jsonb;
BEGIN
    SELECT * INTO p FROM @extschema@.program WHERE program_id = p.program_id FOR UPDATE;
    merged := @extschema@._settings_merge(p.settings, settings);
    IF merged -> 'member_ids' IS DISTINCT FROM p.settings -> 'member_ids'
       AND EXISTS (SELECT 1 FROM @extschema@.member m WHERE m.program_id = p.program_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'LY006',
            MESSAGE = format('settings key "member_ids" of program "%s" cannot change: it has members', program);
    END IF;
    UPDATE @extschema@.program SET settings = merged WHERE program_id = p.program_id;
    PERFORM @extschema@._settings_changed();   -- every backend drops its cached settings
    -- Members who owe points show a negative balance or not: empty their read
    -- cache window so the next read recomputes it.
    IF merged -> 'allow_negative' IS DISTINCT FROM p.settings -> 'allow_negative' THEN
        -- lock them in member id order, the order every ledger write uses
        PERFORM 1 FROM @extschema@.member m
        WHERE m.program_id = p.program_id AND m.debt > 0 AND m.last_entry_at IS NOT NULL
        ORDER BY m.member_id FOR UPDATE;
        UPDATE @extschema@.member m SET cache_until = m.last_entry_at
        WHERE m.program_id = p.program_id AND m.debt > 0 AND m.last_entry_at IS NOT NULL;
    END IF;
    PERFORM @extschema@._audit(caller, p.program_id, 'update_program', program,
        jsonb_build_object('before', p.settings, 'after', merged));
END
$$;

-- enroll / member -------------------------------------------------------------

CREATE FUNCTION @extschema@.enroll(program text, external_id text, joined_at timestamptz DEFAULT now(),
                                   birthday date DEFAULT NULL, attrs jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.enroll(text, text, timestamptz, date, jsonb) IS
    'Enrol a customer (idempotent: an enrolled customer''s id is returned unchanged).';

CREATE FUNCTION @extschema@._enroll(caller oid, program text, external_id text, joined_at timestamptz,
                                    birthday date, attrs jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.program := @extschema@._program_row(program);
    id bigint;
BEGIN
    PERFORM @extschema@._require(external_id, 'external_id'), @extschema@._require(joined_at, 'joined_at'),
            @extschema@._require(attrs, 'attrs');
    IF external_id = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'external_id must not be empty';
    END IF;
    IF NOT isfinite(joined_at) THEN
        RAISE EXCEPTION USING ERRCODE = 'datetime_field_overflow', MESSAGE = 'joined_at must be a finite timestamp';
    END IF;
    IF jsonb_typeof(attrs) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('attrs must be a JSON object, got %s', jsonb_typeof(attrs));
    END IF;

    SELECT k.member_id INTO id FROM @extschema@.customer_key k
    WHERE k.external_id = _enroll.external_id AND k.program_id = p.program_id;
    IF FOUND THEN
        RETURN id;
    END IF;

    IF p.settings ->> 'member_ids' = 'application' THEN
        IF external_id !~ '^[1-9][0-9]{0,18}$' OR external_id::numeric > 9223372036854775807 THEN
            RAISE EXCEPTION USING ERRCODE = 'LY010',
                MESSAGE = format('external_id "%s" is not a valid member id', external_id),
                DETAIL = format('Program "%s" uses member_ids = application: the customer''s own positive bigint id.', program);
        END IF;
        id := external_id::bigint;
        IF EXISTS (SELECT 1 FROM @extschema@.member m WHERE m.member_id = id AND m.program_id <> p.program_id) THEN
            RAISE EXCEPTION USING ERRCODE = 'LY010',
                MESSAGE = format('member id %s is already used by another programme', id);
        END IF;
    ELSE
        id := nextval('@extschema@.member_id_seq');   -- may be taken by an application id: see below
    END IF;

    -- Two sessions enrolling the same customer: the second waits on the key and returns its id.
    INSERT INTO @extschema@.customer_key (external_id, program_id, member_id)
    VALUES (external_id, p.program_id, id)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT k.member_id INTO id FROM @extschema@.customer_key k
        WHERE k.external_id = _enroll.external_id AND k.program_id = p.program_id;
        RETURN id;
    END IF;
    IF p.settings ->> 'member_ids' = 'application' THEN
        -- Another programme may claim the same id at the same moment.
        BEGIN
            INSERT INTO @extschema@.member (member_id, program_id, external_id, joined_at, birthday, attrs)
            VALUES (id, p.program_id, external_id, joined_at, birthday, attrs);
        EXCEPTION WHEN unique_violation THEN
            RAISE EXCEPTION USING ERRCODE = 'LY010',
                MESSAGE = format('member id %s is already used by another programme', id);
        END;
    ELSE
        -- Member ids are unique in the database: skip ids that application-id
        -- programmes already use.
        LOOP
            INSERT INTO @extschema@.member (member_id, program_id, external_id, joined_at, birthday, attrs)
            VALUES (id, p.program_id, external_id, joined_at, birthday, attrs)
            ON CONFLICT (member_id) DO NOTHING;
            EXIT WHEN FOUND;
            id := nextval('@extschema@.member_id_seq');
            UPDATE @extschema@.customer_key k SET member_id = id
            WHERE k.external_id = _enroll.external_id AND k.program_id = p.program_id;
        END LOOP;
    END IF;
    RETURN id;
END
$$;

CREATE FUNCTION @extschema@.member(program text, external_id text)
RETURNS bigint
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.member(text, text) IS
    'The member id of a customer key in a programme, NULL if not enrolled.';

CREATE FUNCTION @extschema@._member(caller oid, program text, external_id text)
RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.program := @extschema@._program_row(program);
BEGIN
    PERFORM @extschema@._require(external_id, 'external_id');
    RETURN (SELECT k.member_id FROM @extschema@.customer_key k
            WHERE k.external_id = _member.external_id AND k.program_id = p.program_id);
END
$$;

-- tags ----------------------------------------------------------------------

CREATE FUNCTION @extschema@._member_exists(member bigint)
RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pid bigint;
BEGIN
    PERFORM @extschema@._require(member, 'member');
    SELECT m.program_id INTO pid FROM @extschema@.member m WHERE m.member_id = _member_exists.member;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LY004',
            MESSAGE = format('member %s does not exist', member),
            HINT = 'Enrol the customer with loyalty.enroll() first.';
    END IF;
    PERFORM @extschema@._require_program(pid);
END
$$;
COMMENT ON FUNCTION @extschema@._member_exists(bigint) IS 'Internal: raise LY004 unless the member exists, 42501 unless the calling role may use its programme.';

CREATE FUNCTION @extschema@.tag_member(member bigint, tag text)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.tag_member(bigint, text) IS 'Give a member a tag (idempotent).';

CREATE FUNCTION @extschema@._tag_member(caller oid, member bigint, tag text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@._member_exists(member), @extschema@._require(tag, 'tag');
    IF tag = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'tag must not be empty';
    END IF;
    INSERT INTO @extschema@.member_tag (member_id, tag) VALUES (member, tag) ON CONFLICT DO NOTHING;
END
$$;

CREATE FUNCTION @extschema@.untag_member(member bigint, tag text)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.untag_member(bigint, text) IS 'Remove a tag from a member (no error if absent).';

CREATE FUNCTION @extschema@._untag_member(caller oid, member bigint, tag text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@._member_exists(member), @extschema@._require(tag, 'tag');
    IF tag = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'tag must not be empty';
    END IF;
    DELETE FROM @extschema@.member_tag t WHERE t.member_id = _untag_member.member AND t.tag = _untag_member.tag;
END
$$;

COMMENT ON FUNCTION @extschema@._create_program(oid, text, text, text, jsonb) IS 'Internal body of create_program (caller passed by the trampoline).';
COMMENT ON FUNCTION @extschema@._update_program(oid, text, jsonb) IS 'Internal body of update_program.';
COMMENT ON FUNCTION @extschema@._enroll(oid, text, text, timestamptz, date, jsonb) IS 'Internal body of enroll.';
COMMENT ON FUNCTION @extschema@._member(oid, text, text) IS 'Internal body of member.';
COMMENT ON FUNCTION @extschema@._tag_member(oid, bigint, text) IS 'Internal body of tag_member.';
COMMENT ON FUNCTION @extschema@._untag_member(oid, bigint, text) IS 'Internal body of untag_member.';
