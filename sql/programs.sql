-- programs.sql: programmes, settings, members and tags (SPEC section 2).
-- Programme ids and generated member ids come from sequences shared with the
-- other suites: they are captured with \gset, never shown.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY default
\set SHOW_CONTEXT never

-- pg_temp.try(statement, ids): run a statement, and if it fails show its
-- SQLSTATE, message, detail and hint, with generated ids replaced by labels
-- (ids: {"<id>": "<label>"}).
CREATE FUNCTION pg_temp.try(stmt text, ids jsonb DEFAULT '{}')
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; hnt text; k text; v text;
BEGIN
    EXECUTE stmt;
    RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    FOR k, v IN SELECT key, value FROM jsonb_each_text(ids) LOOP
        msg := regexp_replace(msg, '\m' || k || '\M', '<' || v || '>', 'g');
        det := regexp_replace(det, '\m' || k || '\M', '<' || v || '>', 'g');
    END LOOP;
    RETURN NEXT format('ERROR %s: %s', st, msg);
    IF det <> '' THEN RETURN NEXT 'DETAIL: ' || det; END IF;
    IF hnt <> '' THEN RETURN NEXT 'HINT: ' || hnt; END IF;
END
$$;

--------------------------------------------------------------------------
-- create_program
--------------------------------------------------------------------------
-- defaults: currency CNY, every settings key stored with its default
SELECT loyalty.create_program('prg_programs_1', 'Programs: defaults') AS p1 \gset
SELECT program_id = :p1 AS returned_id, code, name, currency, settings
FROM loyalty.program WHERE code = 'prg_programs_1';
SELECT key, value FROM loyalty.program, jsonb_each(settings)
WHERE code = 'prg_programs_1' ORDER BY key;
SELECT settings = loyalty.default_settings() AS all_defaults
FROM loyalty.program WHERE code = 'prg_programs_1';

-- every key with a valid non-default value; missing keys get defaults
SELECT loyalty.create_program('prg_programs_2', 'Programs: every key', 'EUR',
    '{"timezone": "Asia/Shanghai", "points_expire_months": 24, "pending_days": 7,
      "point_value": 20, "tier_basis": "rolling_12m_points", "retain_months": 12,
      "dormant_months": 3, "allow_negative": true, "member_ids": "application"}') > 0 AS created;
SELECT loyalty.create_program('prg_programs_3', 'Programs: some keys', 'USD',
    '{"tier_basis": "rolling_12m_spend", "point_value": 0.5, "points_expire_months": 1}') > 0 AS created;
-- an explicit null is the default
SELECT loyalty.create_program('prg_programs_4', 'Programs: nulls', 'CNY',
    '{"timezone": null, "points_expire_months": null, "pending_days": 0}') > 0 AS created;
SELECT code, currency, jsonb_pretty(settings) AS settings
FROM loyalty.program WHERE code LIKE 'prg\_programs\__' ORDER BY code;
SELECT code, settings = loyalty.default_settings() AS all_defaults
FROM loyalty.program WHERE code LIKE 'prg\_programs\__' ORDER BY code;

-- duplicate code (the SQLSTATE is shown where it is one of the documented ones)
SELECT * FROM pg_temp.try($$SELECT loyalty.create_program('prg_programs_1', 'Programs: again')$$);
-- bad currency, code and settings
SELECT * FROM pg_temp.try($$SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'cny')$$);
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'EURO');
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', NULL);
SELECT loyalty.create_program('prg programs x', 'Programs: bad');
SELECT loyalty.create_program(NULL, 'Programs: bad');
SELECT * FROM pg_temp.try($$SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', '{"colour": "red"}')$$);
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', '[]');
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', NULL);
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', '{"timezone": "Mars/Olympus_Mons"}');
SELECT * FROM pg_temp.try($$SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', '{"points_expire_months": 0}')$$);
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', '{"points_expire_months": 1.5}');
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', '{"pending_days": -1}');
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', '{"point_value": -1}');
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', '{"tier_basis": "lifetime_spend"}');
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', '{"retain_months": "3"}');
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', '{"dormant_months": 0}');
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', '{"allow_negative": "yes"}');
SELECT loyalty.create_program('prg_programs_x', 'Programs: bad', 'CNY', '{"member_ids": "uuid"}');
-- nothing of the failed calls was written
SELECT count(*) AS bad_programs FROM loyalty.program WHERE code IN ('prg_programs_x', 'prg programs x');
SELECT name FROM loyalty.program WHERE code = 'prg_programs_1';

--------------------------------------------------------------------------
-- update_program: merges keys; JSON null puts a key back to its default
--------------------------------------------------------------------------
SELECT loyalty.update_program('prg_programs_1', '{"timezone": "Asia/Shanghai", "points_expire_months": 12}');
SELECT settings->>'timezone' AS timezone, settings->'points_expire_months' AS points_expire_months,
       settings->'pending_days' AS pending_days, settings->>'tier_basis' AS tier_basis
FROM loyalty.program WHERE code = 'prg_programs_1';
SELECT loyalty.update_program('prg_programs_1', '{"pending_days": 14, "tier_basis": "rolling_12m_points"}');
SELECT settings->>'timezone' AS timezone, settings->'points_expire_months' AS points_expire_months,
       settings->'pending_days' AS pending_days, settings->>'tier_basis' AS tier_basis
FROM loyalty.program WHERE code = 'prg_programs_1';
SELECT loyalty.update_program('prg_programs_1', '{"timezone": null, "points_expire_months": null}');
SELECT settings->>'timezone' AS timezone, settings->'points_expire_months' AS points_expire_months,
       settings->'pending_days' AS pending_days, settings->>'tier_basis' AS tier_basis
FROM loyalty.program WHERE code = 'prg_programs_1';
SELECT loyalty.update_program('prg_programs_1', '{}');
SELECT jsonb_pretty(settings) AS settings FROM loyalty.program WHERE code = 'prg_programs_1';
-- errors leave the settings as they were
SELECT loyalty.update_program('prg_programs_1', '{"pending_days": 1, "colour": "red"}');
SELECT loyalty.update_program('prg_programs_1', '{"pending_days": 1, "tier_basis": "spend"}');
SELECT loyalty.update_program('prg_programs_1', NULL);
SELECT * FROM pg_temp.try($$SELECT loyalty.update_program('prg_programs_nope', '{"pending_days": 1}')$$);
SELECT loyalty.update_program(NULL, '{"pending_days": 1}');
SELECT settings->'pending_days' AS pending_days FROM loyalty.program WHERE code = 'prg_programs_1';

-- member_ids may change while the programme has no member ...
SELECT loyalty.update_program('prg_programs_4', '{"member_ids": "application"}');
SELECT loyalty.update_program('prg_programs_4', '{"member_ids": null}');
SELECT settings->>'member_ids' AS member_ids FROM loyalty.program WHERE code = 'prg_programs_4';
-- ... and not once it has one; other keys still may
SELECT loyalty.enroll('prg_programs_4', 'cust-1', '2026-01-01') IS NOT NULL AS enrolled;
SELECT * FROM pg_temp.try($$SELECT loyalty.update_program('prg_programs_4', '{"member_ids": "application"}')$$);
SELECT loyalty.update_program('prg_programs_4', '{"member_ids": "generated", "pending_days": 3}');
SELECT settings->>'member_ids' AS member_ids, settings->'pending_days' AS pending_days
FROM loyalty.program WHERE code = 'prg_programs_4';

-- every create and update is audited, with the calling role (updates: the
-- keys that changed, [before, after]); failed calls are not
SELECT a.action, a.object, a.role_name = current_user AS by_me, a.program_id = p.program_id AS program_ok,
       CASE action WHEN 'create_program' THEN detail - 'settings'
            ELSE (SELECT jsonb_object_agg(k, jsonb_build_array(detail->'before'->k, detail->'after'->k))
                  FROM jsonb_object_keys(detail->'after') AS k
                  WHERE detail->'before'->k IS DISTINCT FROM detail->'after'->k) END
           AS detail
FROM loyalty.audit_log a JOIN loyalty.program p ON p.code = a.object
WHERE a.object LIKE 'prg\_programs\__' AND a.action IN ('create_program', 'update_program')
ORDER BY a.audit_id;
SELECT count(*) AS audited_failures FROM loyalty.audit_log
WHERE object IN ('prg_programs_x', 'prg programs x', 'prg_programs_nope');
SELECT detail->'settings' = settings AS settings_audited
FROM loyalty.audit_log a JOIN loyalty.program p ON p.code = a.object
WHERE a.object = 'prg_programs_2' AND a.action = 'create_program';

--------------------------------------------------------------------------
-- enroll and member
--------------------------------------------------------------------------
SELECT loyalty.enroll('prg_programs_1', 'cust-1', '2026-01-05 10:00+00', '1990-02-28',
                      '{"channel": "app"}') AS m1 \gset
-- idempotent: the same id, and the first call's attributes are kept
SELECT loyalty.enroll('prg_programs_1', 'cust-1', '2026-03-01 00:00+00', '1991-01-01',
                      '{"channel": "store"}') = :m1 AS same_member;
SELECT loyalty.enroll('prg_programs_1', 'cust-1') = :m1 AS same_member;
SELECT program_id = :p1 AS program_ok, external_id, joined_at, birthday, attrs
FROM loyalty.member WHERE member_id = :m1;
SELECT count(*) AS members FROM loyalty.member WHERE program_id = :p1;
-- another customer is another member; the same key in another programme too
SELECT loyalty.enroll('prg_programs_1', 'cust-2', '2026-01-06 00:00+00') AS m2 \gset
SELECT loyalty.enroll('prg_programs_3', 'cust-1', '2026-01-06 00:00+00') AS m3 \gset
SELECT :m2 <> :m1 AS new_member, :m3 <> :m1 AND :m3 <> :m2 AS new_member_other_programme;
SELECT external_id, joined_at, birthday, attrs FROM loyalty.member WHERE member_id = :m2;

-- member(): known and unknown keys
SELECT loyalty.member('prg_programs_1', 'cust-1') = :m1 AS cust_1,
       loyalty.member('prg_programs_1', 'cust-2') = :m2 AS cust_2,
       loyalty.member('prg_programs_3', 'cust-1') = :m3 AS cust_1_other;
SELECT loyalty.member('prg_programs_1', 'cust-unknown') AS unknown,
       loyalty.member('prg_programs_2', 'cust-1') AS not_in_this_programme;
SELECT * FROM pg_temp.try($$SELECT loyalty.member('prg_programs_nope', 'cust-1')$$);

-- enroll errors
SELECT loyalty.enroll('prg_programs_nope', 'cust-1', '2026-01-01');
SELECT loyalty.enroll('prg_programs_1', '', '2026-01-01');
SELECT loyalty.enroll('prg_programs_1', NULL, '2026-01-01');
SELECT loyalty.enroll('prg_programs_1', 'cust-3', NULL);
SELECT loyalty.enroll('prg_programs_1', 'cust-3', 'infinity');
SELECT loyalty.enroll('prg_programs_1', 'cust-3', '2026-01-01', NULL, '["vip"]');
SELECT loyalty.member('prg_programs_1', 'cust-3') AS not_enrolled;

--------------------------------------------------------------------------
-- member_ids = 'application': the external_id is the member id
--------------------------------------------------------------------------
SELECT loyalty.create_program('prg_programs_app1', 'Programs: application ids A', 'CNY',
                              '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.create_program('prg_programs_app2', 'Programs: application ids B', 'CNY',
                              '{"member_ids": "application"}') > 0 AS created;
SELECT loyalty.enroll('prg_programs_app1', '12345', '2026-01-01');
SELECT loyalty.enroll('prg_programs_app1', '12345', '2026-02-01');
SELECT loyalty.member('prg_programs_app1', '12345');
SELECT loyalty.enroll('prg_programs_app1', '9223372036854775807', '2026-01-01');
SELECT member_id, external_id, joined_at FROM loyalty.member
WHERE member_id IN (12345, 9223372036854775807) ORDER BY member_id;
-- not a positive bigint
SELECT * FROM pg_temp.try($$SELECT loyalty.enroll('prg_programs_app1', 'abc', '2026-01-01')$$);
SELECT loyalty.enroll('prg_programs_app1', '0', '2026-01-01');
SELECT loyalty.enroll('prg_programs_app1', '-7', '2026-01-01');
SELECT loyalty.enroll('prg_programs_app1', '012345', '2026-01-01');
SELECT loyalty.enroll('prg_programs_app1', '9223372036854775808', '2026-01-01');
-- the same id in another programme (LY010)
SELECT * FROM pg_temp.try($$SELECT loyalty.enroll('prg_programs_app2', '12345', '2026-01-01')$$);
SELECT loyalty.member('prg_programs_app2', '12345') AS not_enrolled;
SELECT count(*) AS members_12345 FROM loyalty.member WHERE member_id = 12345;
-- an id a generated programme already uses
SELECT * FROM pg_temp.try(format('SELECT loyalty.enroll(%L, %L, %L)', 'prg_programs_app2', :m1, '2026-01-01'),
                          jsonb_build_object(:'m1', 'm1'));
SELECT count(*) AS members_m1 FROM loyalty.member WHERE member_id = :m1;
-- Member ids are unique in the database, whichever way they are made: an
-- application programme takes the id the generated sequence would hand out
-- next; enrolling in a generated programme must then still work, with
-- another id.
SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS next_generated
FROM loyalty.member_id_seq \gset
SELECT loyalty.enroll('prg_programs_app1', :'next_generated', '2026-01-01') = :next_generated AS took_next_id;
SELECT loyalty.enroll('prg_programs_1', 'cust-4', '2026-01-01') <> :next_generated AS enrolled_with_another_id;
SELECT loyalty.member('prg_programs_1', 'cust-4') <> :next_generated AS enrolled_with_another_id;
SELECT p.code FROM loyalty.member m JOIN loyalty.program p USING (program_id)
WHERE m.member_id = :next_generated;

--------------------------------------------------------------------------
-- tags
--------------------------------------------------------------------------
SELECT loyalty.tag_member(:m1, 'vip');
SELECT loyalty.tag_member(:m1, 'vip');
SELECT loyalty.tag_member(:m1, 'newsletter');
SELECT loyalty.tag_member(:m2, 'vip');
SELECT member_id = :m1 AS is_m1, tag FROM loyalty.member_tag
WHERE member_id IN (:m1, :m2) ORDER BY member_id = :m2, tag;
SELECT loyalty.untag_member(:m1, 'vip');
SELECT loyalty.untag_member(:m1, 'vip');
SELECT loyalty.untag_member(:m1, 'never-had-it');
SELECT member_id = :m1 AS is_m1, tag FROM loyalty.member_tag
WHERE member_id IN (:m1, :m2) ORDER BY member_id = :m2, tag;
SELECT loyalty.tag_member(:m1, '');
SELECT loyalty.tag_member(:m1, NULL);
SELECT loyalty.tag_member(NULL, 'vip');
SELECT * FROM pg_temp.try($$SELECT loyalty.tag_member(-1, 'vip')$$);
SELECT loyalty.untag_member(-1, 'vip');

SELECT * FROM loyalty.verify('prg_programs_1');
SELECT * FROM loyalty.verify('prg_programs_app1');
