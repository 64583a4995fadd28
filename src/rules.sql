-- rules.sql: earning rules (SPEC section 4).  A rule is validated here, when
-- it is defined, and stored both as given (rule) and as typed columns that
-- src/rules.c loads into its per-backend cache and evaluates.  Re-defining a
-- code writes a new version and supersedes the old one; earlier versions
-- stay for the record.

CREATE SEQUENCE @extschema@.rule_id_seq;

CREATE TABLE @extschema@.earn_rule (
    rule_id      bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.rule_id_seq'),
    program_id   bigint NOT NULL REFERENCES @extschema@.program,
    code         text NOT NULL,
    version      int NOT NULL,
    rule         jsonb NOT NULL,             -- as defined
    kind         text NOT NULL CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['base','multiplier','event','cashback'])),
    event        text NOT NULL,              -- 'order' or the event name
    active       boolean NOT NULL,
    per_amount   bigint,                     -- base: points per this much money
    points       bigint,                     -- base and event
    multiplier   numeric,                    -- multiplier
    cashback_percent numeric,                -- cashback (paid by the wallets part)
    from_wallet  text,
    skus         text[],                     -- lines covered (base) or boosted (multiplier); NULL: all
    categories   text[],
    when_birthday boolean NOT NULL DEFAULT false,
    when_weekdays int[],
    when_dates   date[],
    when_month_day int,
    when_tiers   text[],
    max_points_per_order bigint,
    max_points_per_day bigint,
    max_times    bigint,
    max_per_day  bigint,                     -- events: times per day
    valid_from   timestamptz,
    valid_until  timestamptz,
    defined_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    superseded_at timestamptz,
    UNIQUE (program_id, code, version)
);
CREATE UNIQUE INDEX earn_rule_current ON @extschema@.earn_rule (program_id, code)
    WHERE superseded_at IS NULL;
COMMENT ON TABLE @extschema@.earn_rule IS 'Earning rules, every version; the current one has superseded_at NULL.';

-- What each capped rule has given a member, per programme day: the caps
-- max_points_per_day, max_per_day and max_times are checked against it.
CREATE TABLE @extschema@.rule_award (
    member_id  bigint NOT NULL,
    code       text NOT NULL,
    day        date NOT NULL,
    times      bigint NOT NULL DEFAULT 0,
    points     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (member_id, code, day)
);
COMMENT ON TABLE @extschema@.rule_award IS 'Per member, rule and programme day: how often and how many points a capped rule gave.';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.earn_rule', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rule_award', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rule_id_seq', '');

-- Validation helpers ----------------------------------------------------------

-- Raise LY013 for the definition `code` (a rule, tier or coupon), naming the key.
CREATE FUNCTION @extschema@._bad_definition(what text, code text, key text, problem text, hint text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LY013',
        MESSAGE = format('%s "%s": key "%s" %s', what, code, key, problem),
        HINT = COALESCE(hint, CASE what WHEN 'coupon' THEN 'See docs/coupons.md for the spec keys.'
                                        WHEN 'tier' THEN 'See docs/tiers.md.'
                                        ELSE 'See docs/earning.md for the rule shapes.' END);
END
$$;
COMMENT ON FUNCTION @extschema@._bad_definition(text, text, text, text, text) IS 'Internal: raise LY013 naming the definition and its bad key.';

-- A JSON array of non-empty strings as text[] (NULL when absent).
CREATE FUNCTION @extschema@._rule_text_array(code text, key text, v jsonb, what text DEFAULT 'rule')
RETURNS text[]
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    out text[];
BEGIN
    IF v IS NULL THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) = 0
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) e
                  WHERE jsonb_typeof(e) <> 'string' OR e #>> '{}' = '') THEN
        PERFORM @extschema@._bad_definition(what, code, key, 'must be a non-empty array of non-empty strings');
    END IF;
    SELECT array_agg(DISTINCT e ORDER BY e) INTO out FROM jsonb_array_elements_text(v) e;
    RETURN out;
END
$$;
COMMENT ON FUNCTION @extschema@._rule_text_array(text, text, jsonb, text) IS 'Internal: a definition key holding strings, as text[].';

-- A positive integer key (NULL when absent).
CREATE FUNCTION @extschema@._rule_positive(code text, key text, v jsonb, what text DEFAULT 'rule',
                                           hi bigint DEFAULT 1000000000000)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF v IS NULL THEN
        RETURN NULL;
    END IF;
    IF NOT @extschema@._is_int_between(v, 1, 9223372036854775807) THEN
        PERFORM @extschema@._bad_definition(what, code, key,
            format('must be a positive integer, got %s', v));
    END IF;
    IF (v #>> '{}')::numeric > hi THEN
        PERFORM @extschema@._bad_definition(what, code, key, format('must be at most %s, got %s', hi, v));
    END IF;
    RETURN (v #>> '{}')::bigint;
END
$$;
COMMENT ON FUNCTION @extschema@._rule_positive(text, text, jsonb, text, bigint) IS 'Internal: a definition key holding a positive integer.';

-- A timestamptz key (NULL when absent).
CREATE FUNCTION @extschema@._rule_instant(code text, key text, v jsonb, what text DEFAULT 'rule')
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF v IS NULL THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'string' THEN
        PERFORM @extschema@._bad_definition(what, code, key, format('must be a timestamp string, got %s', v));
    END IF;
    BEGIN
        RETURN (v #>> '{}')::timestamptz;
    EXCEPTION WHEN others THEN
        PERFORM @extschema@._bad_definition(what, code, key, format('is not a valid timestamp: %s', v));
    END;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@._rule_instant(text, text, jsonb, text) IS 'Internal: a definition key holding a timestamp.';

-- define_earn_rule ---------------------------------------------------------------

CREATE FUNCTION @extschema@.define_earn_rule(program text, code text, rule jsonb)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.define_earn_rule(text, text, jsonb) IS
    'Define (or re-define, as a new version) an earning rule; validated now, never at order time.  Returns the rule version''s id.';

CREATE FUNCTION @extschema@._define_earn_rule(caller oid, program text, code text, rule jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.program := @extschema@._program_row(program);
    r @extschema@.earn_rule;
    w jsonb;
    k text;
    allowed text[];
    prev @extschema@.earn_rule;
BEGIN
    PERFORM @extschema@._require(code, 'code'), @extschema@._require(rule, 'rule');
    PERFORM @extschema@._require_code(code, 'rule');
    IF jsonb_typeof(rule) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'LY013',
            MESSAGE = format('rule "%s" must be a JSON object, got %s', code, jsonb_typeof(rule));
    END IF;
    SELECT k2 INTO k FROM jsonb_object_keys(rule) k2
    WHERE k2 <> ALL (ARRAY['on','per_amount','points','multiplier','when','skus','categories',
                           'max_points_per_order','max_points_per_day','max_times','max_per_day',
                           'valid_from','valid_until','active','cashback_percent','from_wallet',
                           'description'])
    ORDER BY 1 LIMIT 1;
    IF k IS NOT NULL THEN
        PERFORM @extschema@._bad_definition('rule', code, k, 'is unknown');
    END IF;

    -- the event and the shape
    IF rule -> 'on' IS NULL OR jsonb_typeof(rule -> 'on') <> 'string' OR rule ->> 'on' = '' THEN
        PERFORM @extschema@._bad_definition('rule', code, 'on', 'is required: "order" or an event name');
    END IF;
    r.event := rule ->> 'on';
    IF r.event = 'order' THEN
        IF rule ? 'cashback_percent' THEN
            r.kind := 'cashback';
            allowed := ARRAY['on','cashback_percent','from_wallet','when','skus','categories',
                             'valid_from','valid_until','active','description'];
        ELSIF rule ? 'multiplier' THEN
            r.kind := 'multiplier';
            allowed := ARRAY['on','multiplier','when','max_times','valid_from','valid_until','active','description'];
        ELSIF rule ? 'per_amount' OR rule ? 'points' THEN
            r.kind := 'base';
            allowed := ARRAY['on','per_amount','points','skus','categories','when','max_points_per_order',
                             'max_points_per_day','max_times','valid_from','valid_until','active','description'];
        ELSE
            PERFORM @extschema@._bad_definition('rule', code, 'on',
                'is "order" but the rule has none of "per_amount", "multiplier" or "cashback_percent"');
        END IF;
    ELSE
        r.kind := 'event';
        allowed := ARRAY['on','points','max_points_per_day','max_times','max_per_day',
                         'valid_from','valid_until','active','description'];
    END IF;
    SELECT k2 INTO k FROM jsonb_object_keys(rule) k2 WHERE k2 <> ALL (allowed) ORDER BY 1 LIMIT 1;
    IF k IS NOT NULL THEN
        PERFORM @extschema@._bad_definition('rule', code, k,
            format('does not apply to a %s rule', CASE r.kind WHEN 'event' THEN format('"%s" event', r.event)
                                                       ELSE r.kind END));
    END IF;

    r.per_amount := @extschema@._rule_positive(code, 'per_amount', rule -> 'per_amount');
    r.points := @extschema@._rule_positive(code, 'points', rule -> 'points');
    IF r.kind = 'base' AND (r.per_amount IS NULL OR r.points IS NULL) THEN
        PERFORM @extschema@._bad_definition('rule', code, CASE WHEN r.per_amount IS NULL THEN 'per_amount' ELSE 'points' END,
            'is required: a base rate gives "points" per "per_amount" of money');
    END IF;
    IF r.kind = 'event' AND r.points IS NULL THEN
        PERFORM @extschema@._bad_definition('rule', code, 'points', 'is required for an event rule');
    END IF;
    IF r.kind = 'multiplier' THEN
        IF jsonb_typeof(rule -> 'multiplier') <> 'number' OR (rule ->> 'multiplier')::numeric < 1
           OR (rule ->> 'multiplier')::numeric > 1000 THEN
            PERFORM @extschema@._bad_definition('rule', code, 'multiplier',
                format('must be a number from 1 to 1000, got %s', rule -> 'multiplier'));
        END IF;
        r.multiplier := (rule ->> 'multiplier')::numeric;
    END IF;
    IF r.kind = 'cashback' THEN
        IF jsonb_typeof(rule -> 'cashback_percent') <> 'number'
           OR (rule ->> 'cashback_percent')::numeric <= 0 OR (rule ->> 'cashback_percent')::numeric > 100 THEN
            PERFORM @extschema@._bad_definition('rule', code, 'cashback_percent',
                format('must be a number above 0 and at most 100, got %s', rule -> 'cashback_percent'));
        END IF;
        IF jsonb_typeof(rule -> 'from_wallet') IS DISTINCT FROM 'string' OR rule ->> 'from_wallet' = '' THEN
            PERFORM @extschema@._bad_definition('rule', code, 'from_wallet',
                'is required: the name of the programme wallet that pays the cashback');
        END IF;
        IF NOT EXISTS (SELECT 1 FROM @extschema@.wallet w
                       WHERE w.program_id = p.program_id AND w.name = rule ->> 'from_wallet' AND w.role = 'program') THEN
            PERFORM @extschema@._bad_definition('rule', code, 'from_wallet',
                format('names no programme wallet of this programme: "%s"', rule ->> 'from_wallet'));
        END IF;
        r.cashback_percent := (rule ->> 'cashback_percent')::numeric;
        r.from_wallet := rule ->> 'from_wallet';
    END IF;
    r.skus := @extschema@._rule_text_array(code, 'skus', rule -> 'skus');
    r.categories := @extschema@._rule_text_array(code, 'categories', rule -> 'categories');

    -- conditions
    w := rule -> 'when';
    IF w IS NOT NULL THEN
        IF jsonb_typeof(w) <> 'object' THEN
            PERFORM @extschema@._bad_definition('rule', code, 'when', 'must be an object');
        END IF;
        SELECT k2 INTO k FROM jsonb_object_keys(w) k2
        WHERE k2 <> ALL (ARRAY['birthday','weekdays','dates','month_day','tiers','skus','categories'])
        ORDER BY 1 LIMIT 1;
        IF k IS NOT NULL THEN
            PERFORM @extschema@._bad_definition('rule', code, 'when.' || k, 'is unknown',
                'when keys: birthday, weekdays, dates, month_day, tiers, skus, categories.');
        END IF;
        IF w ? 'birthday' THEN
            IF jsonb_typeof(w -> 'birthday') <> 'boolean' THEN
                PERFORM @extschema@._bad_definition('rule', code, 'when.birthday', 'must be true or false');
            END IF;
            r.when_birthday := (w ->> 'birthday')::boolean;
        END IF;
        IF w ? 'weekdays' THEN
            IF jsonb_typeof(w -> 'weekdays') <> 'array' OR jsonb_array_length(w -> 'weekdays') = 0
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(w -> 'weekdays') e
                          WHERE NOT @extschema@._is_int_between(e, 1, 7)) THEN
                PERFORM @extschema@._bad_definition('rule', code, 'when.weekdays',
                    'must be a non-empty array of ISO weekdays 1 (Monday) to 7 (Sunday)');
            END IF;
            SELECT array_agg(DISTINCT (e #>> '{}')::int ORDER BY (e #>> '{}')::int) INTO r.when_weekdays
            FROM jsonb_array_elements(w -> 'weekdays') e;
        END IF;
        IF w ? 'dates' THEN
            IF jsonb_typeof(w -> 'dates') <> 'array' OR jsonb_array_length(w -> 'dates') = 0
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(w -> 'dates') e
                          WHERE jsonb_typeof(e) <> 'string' OR e #>> '{}' !~ '^\d{4}-\d{2}-\d{2}$') THEN
                PERFORM @extschema@._bad_definition('rule', code, 'when.dates',
                    'must be a non-empty array of dates "YYYY-MM-DD"');
            END IF;
            BEGIN
                SELECT array_agg(DISTINCT (e #>> '{}')::date ORDER BY (e #>> '{}')::date) INTO r.when_dates
                FROM jsonb_array_elements(w -> 'dates') e;
            EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
                PERFORM @extschema@._bad_definition('rule', code, 'when.dates', 'holds a date that does not exist');
            END;
        END IF;
        IF w ? 'month_day' THEN
            IF NOT @extschema@._is_int_between(w -> 'month_day', 1, 31) THEN
                PERFORM @extschema@._bad_definition('rule', code, 'when.month_day',
                    format('must be a day of the month, 1 to 31, got %s', w -> 'month_day'));
            END IF;
            r.when_month_day := (w ->> 'month_day')::int;
        END IF;
        r.when_tiers := @extschema@._rule_text_array(code, 'when.tiers', w -> 'tiers');
        IF w ? 'skus' OR w ? 'categories' THEN
            IF r.kind = 'base' THEN
                PERFORM @extschema@._bad_definition('rule', code,
                    CASE WHEN w ? 'skus' THEN 'when.skus' ELSE 'when.categories' END,
                    'does not apply to a base rate', 'A base rate names the lines it covers with top-level "skus" / "categories".');
            END IF;
            r.skus := @extschema@._rule_text_array(code, 'when.skus', w -> 'skus');
            r.categories := @extschema@._rule_text_array(code, 'when.categories', w -> 'categories');
        END IF;
    END IF;

    -- caps and validity
    r.max_points_per_order := @extschema@._rule_positive(code, 'max_points_per_order', rule -> 'max_points_per_order');
    r.max_points_per_day := @extschema@._rule_positive(code, 'max_points_per_day', rule -> 'max_points_per_day');
    r.max_times := @extschema@._rule_positive(code, 'max_times', rule -> 'max_times');
    r.max_per_day := @extschema@._rule_positive(code, 'max_per_day', rule -> 'max_per_day');
    r.valid_from := @extschema@._rule_instant(code, 'valid_from', rule -> 'valid_from');
    r.valid_until := @extschema@._rule_instant(code, 'valid_until', rule -> 'valid_until');
    IF r.valid_until <= r.valid_from THEN
        PERFORM @extschema@._bad_definition('rule', code, 'valid_until',
            format('(%s) must be later than valid_from (%s)', r.valid_until, r.valid_from));
    END IF;
    IF rule ? 'active' AND jsonb_typeof(rule -> 'active') <> 'boolean' THEN
        PERFORM @extschema@._bad_definition('rule', code, 'active', 'must be true or false');
    END IF;
    IF rule ? 'description' AND jsonb_typeof(rule -> 'description') <> 'string' THEN
        PERFORM @extschema@._bad_definition('rule', code, 'description', 'must be a string');
    END IF;
    r.active := COALESCE((rule ->> 'active')::boolean, true);
    r.when_birthday := COALESCE(r.when_birthday, false);

    -- a new version supersedes the current one; the programme's counter moves
    UPDATE @extschema@.program SET definitions_version = definitions_version + 1
    WHERE program_id = p.program_id;
    UPDATE @extschema@.earn_rule e SET superseded_at = pg_catalog.clock_timestamp()
    WHERE e.program_id = p.program_id AND e.code = _define_earn_rule.code AND e.superseded_at IS NULL
    RETURNING * INTO prev;
    r.rule_id := pg_catalog.nextval('@extschema@.rule_id_seq');
    r.program_id := p.program_id;
    r.code := code;
    r.version := COALESCE(prev.version, 0) + 1;
    r.rule := rule;
    r.defined_at := pg_catalog.clock_timestamp();
    INSERT INTO @extschema@.earn_rule SELECT r.*;
    PERFORM @extschema@._settings_changed();   -- backends reload the programme's definitions
    PERFORM @extschema@._audit(caller, p.program_id, 'define_earn_rule', code,
        jsonb_build_object('version', r.version, 'rule', rule, 'previous', prev.rule));
    RETURN r.rule_id;
END
$$;

COMMENT ON FUNCTION @extschema@._define_earn_rule(oid, text, text, jsonb) IS 'Internal body of define_earn_rule.';

-- Evaluation (C: src/rules.c) ----------------------------------------------------

CREATE FUNCTION @extschema@.quote_points(member bigint, amount bigint, lines jsonb DEFAULT NULL,
                                         at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_quote_points';
COMMENT ON FUNCTION @extschema@.quote_points(bigint, bigint, jsonb, timestamptz) IS
    'The points an order of this amount (and cart lines) would earn for the member at that instant; writes nothing.';

CREATE FUNCTION @extschema@.record_event(member bigint, event text, ref text, at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_record_event';
COMMENT ON FUNCTION @extschema@.record_event(bigint, text, text, timestamptz) IS
    'Earn what the programme''s rules give for an event (signup, checkin, review, ...); idempotent per (member, event, ref).  Returns the earn entry, or NULL when no rule pays (none defined, or capped).';
