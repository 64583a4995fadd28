-- points_errors: every public function of the points issue against every
-- class of bad input that applies (SPEC sections 1, 2, 3, 8, 10).  Each case
-- prints its SQLSTATE and message; after each group the ledger is shown
-- unchanged.  Programme codes of this suite: err, err-other, err-app.
SET timezone = 'UTC';
\set VERBOSITY sqlstate

-- Messages name generated ids: show this suite's members by external id
-- (<alice>) and entry ids as #.
CREATE FUNCTION pg_temp.mask(msg text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT m.member_id, m.external_id FROM loyalty.member m
             JOIN loyalty.program p USING (program_id) WHERE p.code LIKE 'err%' LOOP
        msg := regexp_replace(msg, '(member |members |and |member id )' || r.member_id || '(?![0-9])',
                              '\1<' || r.external_id || '>', 'g');
    END LOOP;
    RETURN regexp_replace(msg, 'entry [0-9]+', 'entry #', 'g');
END
$$;

-- Run one statement; say 'ok' or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || pg_temp.mask(SQLERRM);
END
$$;

-- Everything the extension stores, as one string: equal before and after
-- means nothing was written.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' / ',
        (SELECT count(*) || ' ' || md5(string_agg(code || name || currency || settings::text, ',' ORDER BY code))
         FROM loyalty.program),
        (SELECT count(*) FROM loyalty.customer_key),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', member_id, external_id, booked, debt,
                    lifetime_earned, last_entry_at, cache_until, cache_available), ',' ORDER BY member_id))
         FROM loyalty.member),
        (SELECT count(*) FROM loyalty.member_tag),
        (SELECT count(*) FROM loyalty.points_entry),
        (SELECT count(*) || ' ' || md5(string_agg(concat_ws(':', member_id, lot_id, remaining), ',' ORDER BY member_id, lot_id))
         FROM loyalty.points_lot),
        (SELECT count(*) FROM loyalty.audit_log),
        (SELECT count(*) FROM loyalty.job_runs))
$$;

-- Members of this suite by external id.
CREATE FUNCTION pg_temp.m(ext text) RETURNS bigint LANGUAGE sql AS $$
    SELECT loyalty.member('err', ext)
$$;

SELECT loyalty.create_program('err', 'Errors', 'CNY') IS NOT NULL AS created;
SELECT loyalty.create_program('err-other', 'Errors, other programme', 'CNY') IS NOT NULL AS created;
SELECT loyalty.enroll('err', 'alice', '2026-01-01') IS NOT NULL AS alice,
       loyalty.enroll('err', 'bob', '2026-01-01') IS NOT NULL AS bob,
       loyalty.enroll('err-other', 'carol', '2026-01-01') IS NOT NULL AS carol;
SELECT loyalty.earn(pg_temp.m('alice'), 100, 'shop', 'o1', at => '2026-01-10') IS NOT NULL AS earned;
SELECT loyalty.earn(pg_temp.m('alice'), 40, 'shop', 'pending', available_at => 'infinity',
                    at => '2026-01-10') IS NOT NULL AS earned_pending;
SELECT loyalty.earn(pg_temp.m('alice'), 50, 'shop', 'short', expires_at => '2026-01-20',
                    at => '2026-01-10') IS NOT NULL AS earned_expiring;
SELECT loyalty.spend(pg_temp.m('alice'), 30, 'shop', 's1', at => '2026-01-11') IS NOT NULL AS spent;
SELECT loyalty.points(pg_temp.m('alice'), '2026-01-12') AS alice_points;
SELECT pg_temp.fingerprint() AS fp \gset

-- create_program ------------------------------------------------------------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'code NULL',            $q$SELECT loyalty.create_program(NULL, 'x')$q$),
  (2, 'name NULL',            $q$SELECT loyalty.create_program('err-x', NULL)$q$),
  (3, 'currency NULL',        $q$SELECT loyalty.create_program('err-x', 'x', NULL)$q$),
  (4, 'settings NULL',        $q$SELECT loyalty.create_program('err-x', 'x', 'CNY', NULL)$q$),
  (5, 'code empty',           $q$SELECT loyalty.create_program('', 'x')$q$),
  (6, 'code with a space',    $q$SELECT loyalty.create_program('err x', 'x')$q$),
  (7, 'currency lower case',  $q$SELECT loyalty.create_program('err-x', 'x', 'cny')$q$),
  (8, 'currency 4 letters',   $q$SELECT loyalty.create_program('err-x', 'x', 'EURO')$q$),
  (9, 'currency empty',       $q$SELECT loyalty.create_program('err-x', 'x', '')$q$),
  (10, 'code exists',         $q$SELECT loyalty.create_program('err', 'again')$q$)
) AS t(n, test, sql) ORDER BY t.n;

-- settings: not an object, unknown key, a wrong value for every key
SELECT t.settings, pg_temp.try(format('SELECT loyalty.create_program(%L, %L, %L, %L)',
                                      'err-x', 'x', 'CNY', t.settings)) AS result
FROM (VALUES
  (1, '[]'), (2, '"timezone"'), (3, '42'), (4, 'null'),
  (5, '{"timezone": "UTC", "colour": "red"}'),
  (6, '{"timezone": "Mars/Olympus_Mons"}'), (7, '{"timezone": 8}'), (8, '{"timezone": ""}'),
  (9, '{"points_expire_months": "12"}'), (10, '{"points_expire_months": 0}'),
  (11, '{"points_expire_months": 1.5}'), (12, '{"points_expire_months": 1201}'),
  (13, '{"pending_days": -1}'), (14, '{"pending_days": true}'),
  (15, '{"point_value": "20"}'), (16, '{"point_value": -1}'),
  (17, '{"tier_basis": "spend"}'), (18, '{"tier_basis": ["lifetime_points"]}'),
  (19, '{"retain_months": -1}'), (20, '{"retain_months": "3"}'),
  (21, '{"dormant_months": 0}'),
  (22, '{"allow_negative": "yes"}'), (23, '{"allow_negative": 1}'),
  (24, '{"member_ids": "uuid"}'), (25, '{"member_ids": true}')
) AS t(n, settings) ORDER BY t.n;
SELECT count(*) AS programs_named_err_x FROM loyalty.program WHERE code = 'err-x';
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- update_program ------------------------------------------------------------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'program NULL',         $q$SELECT loyalty.update_program(NULL, '{}')$q$),
  (2, 'settings NULL',        $q$SELECT loyalty.update_program('err', NULL)$q$),
  (3, 'unknown program',      $q$SELECT loyalty.update_program('err-nope', '{}')$q$),
  (4, 'settings an array',    $q$SELECT loyalty.update_program('err', '[{"pending_days": 1}]')$q$),
  (5, 'unknown key',          $q$SELECT loyalty.update_program('err', '{"expiry": 12}')$q$),
  (6, 'one good key, one bad', $q$SELECT loyalty.update_program('err', '{"pending_days": 5, "timezone": "Nowhere/City"}')$q$),
  (7, 'member_ids with members', $q$SELECT loyalty.update_program('err', '{"member_ids": "application"}')$q$)
) AS t(n, test, sql) ORDER BY t.n;
SELECT settings -> 'pending_days' AS pending_days, settings -> 'timezone' AS timezone
FROM loyalty.program WHERE code = 'err';
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- enroll, member, tag_member, untag_member ----------------------------------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'enroll: program NULL',      $q$SELECT loyalty.enroll(NULL, 'dave', '2026-01-01')$q$),
  (2, 'enroll: external_id NULL',  $q$SELECT loyalty.enroll('err', NULL, '2026-01-01')$q$),
  (3, 'enroll: joined_at NULL',    $q$SELECT loyalty.enroll('err', 'dave', NULL)$q$),
  (4, 'enroll: attrs NULL',        $q$SELECT loyalty.enroll('err', 'dave', '2026-01-01', NULL, NULL)$q$),
  (5, 'enroll: unknown program',   $q$SELECT loyalty.enroll('err-nope', 'dave', '2026-01-01')$q$),
  (6, 'enroll: external_id empty', $q$SELECT loyalty.enroll('err', '', '2026-01-01')$q$),
  (7, 'enroll: joined_at infinity',  $q$SELECT loyalty.enroll('err', 'dave', 'infinity')$q$),
  (8, 'enroll: joined_at -infinity', $q$SELECT loyalty.enroll('err', 'dave', '-infinity')$q$),
  (9, 'enroll: attrs an array',    $q$SELECT loyalty.enroll('err', 'dave', '2026-01-01', NULL, '["vip"]')$q$),
  (10, 'member: program NULL',     $q$SELECT loyalty.member(NULL, 'alice')$q$),
  (11, 'member: external_id NULL', $q$SELECT loyalty.member('err', NULL)$q$),
  (12, 'member: unknown program',  $q$SELECT loyalty.member('err-nope', 'alice')$q$),
  (13, 'tag: member NULL',         $q$SELECT loyalty.tag_member(NULL, 'vip')$q$),
  (14, 'tag: tag NULL',            $q$SELECT loyalty.tag_member(pg_temp.m('alice'), NULL)$q$),
  (15, 'tag: tag empty',           $q$SELECT loyalty.tag_member(pg_temp.m('alice'), '')$q$),
  (16, 'tag: unknown member',      $q$SELECT loyalty.tag_member(-42, 'vip')$q$),
  (17, 'untag: member NULL',       $q$SELECT loyalty.untag_member(NULL, 'vip')$q$),
  (18, 'untag: tag NULL',          $q$SELECT loyalty.untag_member(pg_temp.m('alice'), NULL)$q$),
  (19, 'untag: unknown member',    $q$SELECT loyalty.untag_member(-42, 'vip')$q$)
) AS t(n, test, sql) ORDER BY t.n;
-- NULL with a meaning: an unknown customer is NULL, not an error.
SELECT loyalty.member('err', 'nobody-like-this') IS NULL AS unknown_customer_is_null;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- earn ------------------------------------------------------------------------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'member NULL',      $q$SELECT loyalty.earn(NULL, 10, 'shop', 'e1', at => '2026-01-10')$q$),
  (2, 'points NULL',      $q$SELECT loyalty.earn(pg_temp.m('alice'), NULL, 'shop', 'e1', at => '2026-01-10')$q$),
  (3, 'source NULL',      $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, NULL, 'e1', at => '2026-01-10')$q$),
  (4, 'ref NULL',         $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, 'shop', NULL, at => '2026-01-10')$q$),
  (5, 'at NULL',          $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, 'shop', 'e1', at => NULL)$q$),
  (6, 'points 0',         $q$SELECT loyalty.earn(pg_temp.m('alice'), 0, 'shop', 'e1', at => '2026-01-10')$q$),
  (7, 'points negative',  $q$SELECT loyalty.earn(pg_temp.m('alice'), -5, 'shop', 'e1', at => '2026-01-10')$q$),
  (8, 'source empty',     $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, '', 'e1', at => '2026-01-10')$q$),
  (9, 'ref empty',        $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, 'shop', '', at => '2026-01-10')$q$),
  (10, 'at infinity',     $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, 'shop', 'e1', at => 'infinity')$q$),
  (11, 'at -infinity',    $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, 'shop', 'e1', at => '-infinity')$q$),
  (12, 'unknown member',  $q$SELECT loyalty.earn(-42, 10, 'shop', 'e1', at => '2026-01-10')$q$),
  (13, 'ref reused, other points', $q$SELECT loyalty.earn(pg_temp.m('alice'), 101, 'shop', 'o1', at => '2026-01-10')$q$),
  (14, 'expires before at',        $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, 'shop', 'e1', expires_at => '2026-01-05', at => '2026-01-10')$q$),
  (15, 'expires at at',            $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, 'shop', 'e1', expires_at => '2026-01-10', at => '2026-01-10')$q$),
  (16, 'expires before available', $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, 'shop', 'e1', expires_at => '2026-02-01', available_at => '2026-03-01', at => '2026-01-10')$q$),
  (17, 'expires, pending for ever', $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, 'shop', 'e1', expires_at => '2026-06-01', available_at => 'infinity', at => '2026-01-10')$q$),
  (18, 'expires -infinity',        $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, 'shop', 'e1', expires_at => '-infinity', at => '2026-01-10')$q$),
  (19, 'available -infinity',      $q$SELECT loyalty.earn(pg_temp.m('alice'), 10, 'shop', 'e1', available_at => '-infinity', at => '2026-01-10')$q$)
) AS t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- spend -----------------------------------------------------------------------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'member NULL',      $q$SELECT loyalty.spend(NULL, 10, 'shop', 's2', at => '2026-01-12')$q$),
  (2, 'points NULL',      $q$SELECT loyalty.spend(pg_temp.m('alice'), NULL, 'shop', 's2', at => '2026-01-12')$q$),
  (3, 'source NULL',      $q$SELECT loyalty.spend(pg_temp.m('alice'), 10, NULL, 's2', at => '2026-01-12')$q$),
  (4, 'ref NULL',         $q$SELECT loyalty.spend(pg_temp.m('alice'), 10, 'shop', NULL, at => '2026-01-12')$q$),
  (5, 'at NULL',          $q$SELECT loyalty.spend(pg_temp.m('alice'), 10, 'shop', 's2', at => NULL)$q$),
  (6, 'points 0',         $q$SELECT loyalty.spend(pg_temp.m('alice'), 0, 'shop', 's2', at => '2026-01-12')$q$),
  (7, 'points negative',  $q$SELECT loyalty.spend(pg_temp.m('alice'), -1, 'shop', 's2', at => '2026-01-12')$q$),
  (8, 'source empty',     $q$SELECT loyalty.spend(pg_temp.m('alice'), 10, '', 's2', at => '2026-01-12')$q$),
  (9, 'ref empty',        $q$SELECT loyalty.spend(pg_temp.m('alice'), 10, 'shop', '', at => '2026-01-12')$q$),
  (10, 'at infinity',     $q$SELECT loyalty.spend(pg_temp.m('alice'), 10, 'shop', 's2', at => 'infinity')$q$),
  (11, 'unknown member',  $q$SELECT loyalty.spend(-42, 10, 'shop', 's2', at => '2026-01-12')$q$),
  (12, 'more than available (pending 40 not usable)', $q$SELECT loyalty.spend(pg_temp.m('alice'), 121, 'shop', 's2', at => '2026-01-12')$q$),
  (13, 'expired points not usable', $q$SELECT loyalty.spend(pg_temp.m('alice'), 101, 'shop', 's2', at => '2026-01-20')$q$),
  (14, 'bigint max',      $q$SELECT loyalty.spend(pg_temp.m('alice'), 9223372036854775807, 'shop', 's2', at => '2026-01-12')$q$),
  (15, 'ref reused, other points', $q$SELECT loyalty.spend(pg_temp.m('alice'), 31, 'shop', 's1', at => '2026-01-12')$q$)
) AS t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- reverse -----------------------------------------------------------------------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'member NULL',      $q$SELECT loyalty.reverse(NULL, 'shop', 'o1', at => '2026-01-12')$q$),
  (2, 'source NULL',      $q$SELECT loyalty.reverse(pg_temp.m('alice'), NULL, 'o1', at => '2026-01-12')$q$),
  (3, 'ref NULL',         $q$SELECT loyalty.reverse(pg_temp.m('alice'), 'shop', NULL, at => '2026-01-12')$q$),
  (4, 'at NULL',          $q$SELECT loyalty.reverse(pg_temp.m('alice'), 'shop', 'o1', at => NULL)$q$),
  (5, 'source empty',     $q$SELECT loyalty.reverse(pg_temp.m('alice'), '', 'o1', at => '2026-01-12')$q$),
  (6, 'ref empty',        $q$SELECT loyalty.reverse(pg_temp.m('alice'), 'shop', '', at => '2026-01-12')$q$),
  (7, 'points negative',  $q$SELECT loyalty.reverse(pg_temp.m('alice'), 'shop', 'o1', -1, at => '2026-01-12')$q$),
  (8, 'at infinity',      $q$SELECT loyalty.reverse(pg_temp.m('alice'), 'shop', 'o1', at => 'infinity')$q$),
  (9, 'unknown member',   $q$SELECT loyalty.reverse(-42, 'shop', 'o1', at => '2026-01-12')$q$),
  (10, 'nothing with that key', $q$SELECT loyalty.reverse(pg_temp.m('alice'), 'shop', 'nope', at => '2026-01-12')$q$),
  (11, 'more than the entry',   $q$SELECT loyalty.reverse(pg_temp.m('alice'), 'shop', 'o1', 101, at => '2026-01-12')$q$),
  (12, 'other member''s key',   $q$SELECT loyalty.reverse(pg_temp.m('bob'), 'shop', 'o1', at => '2026-01-12')$q$)
) AS t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- A cumulative total below what already stands reversed, and a number where
-- an earn and a spend share the key.
SELECT loyalty.reverse(pg_temp.m('alice'), 'shop', 'o1', 10, at => '2026-01-12') IS NOT NULL AS reversed_10;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.reverse(pg_temp.m('alice'), 'shop', 'o1', 5, at => '2026-01-12')$q$)
       AS "total below what stands reversed";
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT loyalty.spend(pg_temp.m('alice'), 5, 'shop', 'o1', at => '2026-01-12') IS NOT NULL AS spent_same_key;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.reverse(pg_temp.m('alice'), 'shop', 'o1', 20, at => '2026-01-12')$q$)
       AS "a number where earn and spend share the key";
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- adjust ------------------------------------------------------------------------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'member NULL',      $q$SELECT loyalty.adjust(NULL, 5, 'goodwill', 'a1', at => '2026-01-12')$q$),
  (2, 'delta NULL',       $q$SELECT loyalty.adjust(pg_temp.m('alice'), NULL, 'goodwill', 'a1', at => '2026-01-12')$q$),
  (3, 'reason NULL',      $q$SELECT loyalty.adjust(pg_temp.m('alice'), 5, NULL, 'a1', at => '2026-01-12')$q$),
  (4, 'ref NULL',         $q$SELECT loyalty.adjust(pg_temp.m('alice'), 5, 'goodwill', NULL, at => '2026-01-12')$q$),
  (5, 'at NULL',          $q$SELECT loyalty.adjust(pg_temp.m('alice'), 5, 'goodwill', 'a1', at => NULL)$q$),
  (6, 'delta 0',          $q$SELECT loyalty.adjust(pg_temp.m('alice'), 0, 'goodwill', 'a1', at => '2026-01-12')$q$),
  (7, 'delta bigint min', $q$SELECT loyalty.adjust(pg_temp.m('alice'), -9223372036854775808, 'goodwill', 'a1', at => '2026-01-12')$q$),
  (8, 'reason empty',     $q$SELECT loyalty.adjust(pg_temp.m('alice'), 5, '', 'a1', at => '2026-01-12')$q$),
  (9, 'ref empty',        $q$SELECT loyalty.adjust(pg_temp.m('alice'), 5, 'goodwill', '', at => '2026-01-12')$q$),
  (10, 'at -infinity',    $q$SELECT loyalty.adjust(pg_temp.m('alice'), 5, 'goodwill', 'a1', at => '-infinity')$q$),
  (11, 'unknown member',  $q$SELECT loyalty.adjust(-42, 5, 'goodwill', 'a1', at => '2026-01-12')$q$),
  (12, 'take more than available', $q$SELECT loyalty.adjust(pg_temp.m('alice'), -1000, 'goodwill', 'a1', at => '2026-01-12')$q$)
) AS t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT loyalty.adjust(pg_temp.m('alice'), 5, 'goodwill', 'a1', at => '2026-01-12') IS NOT NULL AS adjusted;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($q$SELECT loyalty.adjust(pg_temp.m('alice'), 6, 'goodwill', 'a1', at => '2026-01-12')$q$)
       AS "ref reused, other delta";
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- transfer_points ---------------------------------------------------------------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'from_member NULL', $q$SELECT loyalty.transfer_points(NULL, pg_temp.m('bob'), 5, 't1', at => '2026-01-12')$q$),
  (2, 'to_member NULL',   $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), NULL, 5, 't1', at => '2026-01-12')$q$),
  (3, 'points NULL',      $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), pg_temp.m('bob'), NULL, 't1', at => '2026-01-12')$q$),
  (4, 'ref NULL',         $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), pg_temp.m('bob'), 5, NULL, at => '2026-01-12')$q$),
  (5, 'at NULL',          $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), pg_temp.m('bob'), 5, 't1', at => NULL)$q$),
  (6, 'points 0',         $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), pg_temp.m('bob'), 0, 't1', at => '2026-01-12')$q$),
  (7, 'points negative',  $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), pg_temp.m('bob'), -3, 't1', at => '2026-01-12')$q$),
  (8, 'ref empty',        $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), pg_temp.m('bob'), 5, '', at => '2026-01-12')$q$),
  (9, 'at infinity',      $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), pg_temp.m('bob'), 5, 't1', at => 'infinity')$q$),
  (10, 'to itself',       $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), pg_temp.m('alice'), 5, 't1', at => '2026-01-12')$q$),
  (11, 'unknown from',    $q$SELECT loyalty.transfer_points(-42, pg_temp.m('bob'), 5, 't1', at => '2026-01-12')$q$),
  (12, 'unknown to',      $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), -42, 5, 't1', at => '2026-01-12')$q$),
  (13, 'more than available', $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), pg_temp.m('bob'), 1000, 't1', at => '2026-01-12')$q$),
  (14, 'other programme', $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), loyalty.member('err-other', 'carol'), 5, 't1', at => '2026-01-12')$q$)
) AS t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT loyalty.transfer_points(pg_temp.m('alice'), pg_temp.m('bob'), 5, 't1', at => '2026-01-12') IS NOT NULL AS transferred;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'ref reused, other points', $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), pg_temp.m('bob'), 6, 't1', at => '2026-01-12')$q$),
  (2, 'ref reused, other member', $q$SELECT loyalty.transfer_points(pg_temp.m('alice'), loyalty.enroll('err', 'dave', '2026-01-01'), 5, 't1', at => '2026-01-12')$q$)
) AS t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- reads: points, balance, history, verify ---------------------------------------
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'points: member NULL',      $q$SELECT loyalty.points(NULL, '2026-01-12')$q$),
  (2, 'points: at NULL',          $q$SELECT loyalty.points(pg_temp.m('alice'), NULL)$q$),
  (3, 'points: at infinity',      $q$SELECT loyalty.points(pg_temp.m('alice'), 'infinity')$q$),
  (4, 'points: unknown member',   $q$SELECT loyalty.points(-42, '2026-01-12')$q$),
  (5, 'balance: member NULL',     $q$SELECT * FROM loyalty.balance(NULL, '2026-01-12')$q$),
  (6, 'balance: at NULL',         $q$SELECT * FROM loyalty.balance(pg_temp.m('alice'), NULL)$q$),
  (7, 'balance: at -infinity',    $q$SELECT * FROM loyalty.balance(pg_temp.m('alice'), '-infinity')$q$),
  (8, 'balance: unknown member',  $q$SELECT * FROM loyalty.balance(-42, '2026-01-12')$q$),
  (9, 'history: member NULL',     $q$SELECT * FROM loyalty.history(NULL)$q$),
  (10, 'history: max_rows NULL',  $q$SELECT * FROM loyalty.history(pg_temp.m('alice'), NULL, NULL)$q$),
  (11, 'history: max_rows 0',     $q$SELECT * FROM loyalty.history(pg_temp.m('alice'), NULL, 0)$q$),
  (12, 'history: max_rows -1',    $q$SELECT * FROM loyalty.history(pg_temp.m('alice'), NULL, -1)$q$),
  (13, 'history: unknown member', $q$SELECT * FROM loyalty.history(-42)$q$),
  (14, 'verify: unknown program', $q$SELECT * FROM loyalty.verify('err-nope')$q$)
) AS t(n, test, sql) ORDER BY t.n;
-- NULL with a meaning: history since NULL is all of it; verify(NULL) is every programme.
SELECT count(*) AS alice_entries FROM loyalty.history(pg_temp.m('alice'), NULL);
SELECT pg_temp.try('SELECT * FROM loyalty.verify(NULL)') AS verify_every_program;

-- run_expiry: bad arguments ------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'as_of NULL',        $q$CALL loyalty.run_expiry(NULL, 10)$q$),
  (2, 'batch_size NULL',   $q$CALL loyalty.run_expiry('2026-02-01', NULL)$q$),
  (3, 'batch_size 0',      $q$CALL loyalty.run_expiry('2026-02-01', 0)$q$),
  (4, 'batch_size -1',     $q$CALL loyalty.run_expiry('2026-02-01', -1)$q$),
  (5, 'as_of infinity',    $q$CALL loyalty.run_expiry('infinity', 10)$q$)
) AS t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- A failed call leaves its key free: the spend refused above as s2 goes
-- through once the points are there.
SELECT loyalty.earn(pg_temp.m('alice'), 100, 'shop', 'o2', at => '2026-01-13') IS NOT NULL AS earned;
SELECT loyalty.spend(pg_temp.m('alice'), 121, 'shop', 's2', at => '2026-01-13') IS NOT NULL AS spent_s2;
SELECT loyalty.points(pg_temp.m('alice'), '2026-01-13') AS alice_points;

-- bigint overflow: nothing written.  In a transaction rolled back at the end,
-- so that no programme of the database holds sums beyond bigint afterwards.
BEGIN;
SELECT loyalty.enroll('err', 'whale', '2026-01-01') IS NOT NULL AS whale;
SELECT loyalty.earn(pg_temp.m('whale'), 9223372036854775807, 'shop', 'big', at => '2026-01-10') IS NOT NULL AS earned_max;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT t.test, pg_temp.try(t.sql) AS result FROM (VALUES
  (1, 'earn 1 more',      $q$SELECT loyalty.earn(pg_temp.m('whale'), 1, 'shop', 'big2', at => '2026-01-11')$q$),
  (2, 'adjust +1',        $q$SELECT loyalty.adjust(pg_temp.m('whale'), 1, 'goodwill', 'big3', at => '2026-01-11')$q$),
  (3, 'transfer 1 in',    $q$SELECT loyalty.transfer_points(pg_temp.m('bob'), pg_temp.m('whale'), 1, 'big4', at => '2026-01-12')$q$)
) AS t(n, test, sql) ORDER BY t.n;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT loyalty.points(pg_temp.m('whale'), '2026-01-12') AS whale_points,
       (SELECT count(*) FROM loyalty.history(pg_temp.m('whale'))) AS whale_entries;
SELECT bool_and(ok) AS verify_ok FROM loyalty.verify('err');
ROLLBACK;

-- member_ids = 'application' -----------------------------------------------------
SELECT loyalty.create_program('err-app', 'Application ids', 'CNY', '{"member_ids": "application"}') IS NOT NULL AS created;
SELECT loyalty.enroll('err-app', '700000000001', '2026-01-01') AS app_member;
SELECT pg_temp.fingerprint() AS fp \gset
SELECT t.external_id, pg_temp.try(format('SELECT loyalty.enroll(%L, %L, %L)', 'err-app', t.external_id, '2026-01-01')) AS result
FROM (VALUES (1, 'abc'), (2, '0'), (3, '-5'), (4, '007'), (5, ' 12'), (6, '12 '), (7, '1.5'), (8, '1e3'),
             (9, '9223372036854775808'), (10, '99999999999999999999')) AS t(n, external_id)
ORDER BY t.n;
-- an id another programme uses (alice's generated id)
SELECT pg_temp.try(format('SELECT loyalty.enroll(%L, %L, %L)', 'err-app', pg_temp.m('alice'), '2026-01-01'))
       AS alice_id_in_app_programme;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- The other way round: an application programme takes the id the generator
-- would hand out next; enrolling in a generated programme must still work
-- (member ids are unique in the database) and get another id.
SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS next_generated
FROM loyalty.member_id_seq \gset
SELECT loyalty.enroll('err-app', :'next_generated', '2026-01-01') = :next_generated AS app_took_next_id;
SELECT pg_temp.try($q$SELECT loyalty.enroll('err', 'erin', '2026-01-01')$q$) AS generated_enroll;
SELECT pg_temp.m('erin') IS NOT NULL AND pg_temp.m('erin') <> :next_generated AS erin_has_own_id;

-- NULL with a meaning in writes: earn's expires_at and available_at (the
-- programme's policy; available at once), reverse's points (all of it).
SELECT loyalty.earn(pg_temp.m('alice'), 7, 'shop', 'o3', NULL, NULL, '2026-01-14') IS NOT NULL AS earned;
SELECT loyalty.points(pg_temp.m('alice'), '2026-01-14') AS alice_points;
SELECT loyalty.reverse(pg_temp.m('alice'), 'shop', 'o3', NULL, '2026-01-14') IS NOT NULL AS reversed_all;
SELECT loyalty.points(pg_temp.m('alice'), '2026-01-14') AS alice_points;

-- Everything still consistent.
SELECT check_name, ok FROM loyalty.verify('err') ORDER BY check_name;
