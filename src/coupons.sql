-- coupons.sql: coupon campaigns (templates) and their coupons (SPEC section
-- 6).  A template is validated when it is defined and stored both as given
-- (spec) and as typed columns that src/coupons.c evaluates; coupons are its
-- instances, each with a loyalty.coupon_code.  Claims, redemptions and
-- releases lock the member row first, then the coupon or template row: the
-- one lock order of the extension.

CREATE SEQUENCE @extschema@.coupon_template_id_seq;

CREATE TABLE @extschema@.coupon_template (
    template_id      bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.coupon_template_id_seq'),
    program_id       bigint NOT NULL REFERENCES @extschema@.program,
    code             text NOT NULL,
    spec             jsonb NOT NULL,            -- as defined
    scope            text NOT NULL,             -- store | items
    skus             text[],                    -- items: lines covered
    categories       text[],
    kind             text NOT NULL,             -- fixed | percent
    value            numeric NOT NULL,          -- fixed: minor units; percent: (0, 100]
    max_discount     bigint,                    -- percent: cap in minor units
    min_spend        bigint NOT NULL DEFAULT 0, -- threshold on the covered list price, inclusive
    valid_from       timestamptz,
    valid_until      timestamptz,               -- exclusive
    valid_days       int,                       -- after claim; the earlier end wins
    total_quantity   bigint,                    -- NULL: unlimited
    per_member_limit int,
    members_only     boolean NOT NULL DEFAULT false,
    new_member_days  int,
    audience_tiers   text[],
    audience_tags    text[],
    hidden           boolean NOT NULL DEFAULT false,
    share_required   int,                       -- share-to-unlock: friends needed
    share_friend_template text,                 -- what each friend gets
    stacking         text NOT NULL DEFAULT 'default',   -- exclusive | default | stackable
    counts_toward_lowest_price boolean NOT NULL,
    claimed          bigint NOT NULL DEFAULT 0, -- coupons claimed so far (verify() recounts)
    defined_at       timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    UNIQUE (program_id, code)
);
COMMENT ON TABLE @extschema@.coupon_template IS 'Coupon campaigns: the offer, its validity, audience, quantities and stacking.';

-- One row per coupon.  An issued code (issue_codes) has no member until it
-- is claimed.  state: issued, available, locked (a share not yet unlocked),
-- used, expired (booked by expire_coupons or a late release), void.
CREATE TABLE @extschema@.coupon (
    code         @extschema@.coupon_code PRIMARY KEY,
    template_id  bigint NOT NULL,
    program_id   bigint NOT NULL,
    member_id    bigint,
    state        text NOT NULL,
    issued_at    timestamptz NOT NULL,
    claimed_at   timestamptz,
    valid_from   timestamptz,               -- claimed coupons: their own window
    valid_until  timestamptz,
    order_ref    text,                      -- used: the order
    used_at      timestamptz,
    discount     bigint,
    order_value  bigint,                    -- list price of the cart it was used on
    void_reason  text,
    closed_at    timestamptz                -- expired or void
);
CREATE INDEX coupon_member ON @extschema@.coupon (member_id, template_id) WHERE member_id IS NOT NULL;
CREATE INDEX coupon_template_state ON @extschema@.coupon (template_id, state);
CREATE INDEX coupon_expiring ON @extschema@.coupon (valid_until)
    WHERE state = ANY (ARRAY['issued', 'available', 'locked']);
COMMENT ON TABLE @extschema@.coupon IS 'Coupons: one row per code, its owner, state and use.';

CREATE TABLE @extschema@.coupon_share (
    token        text PRIMARY KEY,
    program_id   bigint NOT NULL,
    template_id  bigint NOT NULL,
    sharer       bigint NOT NULL,
    code         @extschema@.coupon_code NOT NULL,  -- the sharer's coupon, locked until unlocked
    required     int NOT NULL,
    friend_template text NOT NULL,
    created_at   timestamptz NOT NULL,
    unlocked_at  timestamptz
);
CREATE TABLE @extschema@.coupon_share_friend (
    token      text NOT NULL,
    friend     bigint NOT NULL,
    code       @extschema@.coupon_code NOT NULL,     -- the friend's coupon
    joined_at  timestamptz NOT NULL,
    PRIMARY KEY (token, friend)
);
COMMENT ON TABLE @extschema@.coupon_share IS 'Share-to-unlock: a sharer''s locked coupon and the friends who joined its token.';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.coupon_template', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.coupon', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.coupon_share', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.coupon_share_friend', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.coupon_template_id_seq', '');

-- define_coupon --------------------------------------------------------------

CREATE FUNCTION @extschema@.define_coupon(program text, code text, spec jsonb)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.define_coupon(text, text, jsonb) IS
    'Define (or re-define) a coupon campaign; validated now.  Returns the template id.';

CREATE FUNCTION @extschema@._define_coupon(caller oid, program text, code text, spec jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.program := @extschema@._program_row(program);
    t @extschema@.coupon_template;
    prev @extschema@.coupon_template;
    k text;
    a jsonb;
BEGIN
    PERFORM @extschema@._require(code, 'code'), @extschema@._require(spec, 'spec');
    PERFORM @extschema@._require_code(code, 'coupon template');
    IF jsonb_typeof(spec) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'LY013',
            MESSAGE = format('coupon "%s": spec must be a JSON object, got %s', code, jsonb_typeof(spec));
    END IF;
    SELECT k2 INTO k FROM jsonb_object_keys(spec) k2
    WHERE k2 <> ALL (ARRAY['scope','skus','categories','kind','value','max_discount','min_spend',
                           'valid_from','valid_until','valid_days','total_quantity','per_member_limit',
                           'audience','hidden','share','stacking','counts_toward_lowest_price','description'])
    ORDER BY 1 LIMIT 1;
    IF k IS NOT NULL THEN
        PERFORM @extschema@._bad_definition('coupon', code, k, 'is unknown', 'See docs/coupons.md for the spec keys.');
    END IF;

    t.scope := COALESCE(spec ->> 'scope', 'store');
    IF jsonb_typeof(spec -> 'scope') IS DISTINCT FROM 'string' AND spec ? 'scope'
       OR t.scope <> ALL (ARRAY['store', 'items']) THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'scope', format('must be "store" or "items", got %s', spec -> 'scope'),
            'See docs/coupons.md for the spec keys.');
    END IF;
    t.skus := @extschema@._rule_text_array(code, 'skus', spec -> 'skus', 'coupon');
    t.categories := @extschema@._rule_text_array(code, 'categories', spec -> 'categories', 'coupon');
    IF t.scope = 'items' AND t.skus IS NULL AND t.categories IS NULL THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'scope', 'is "items" but names no "skus" or "categories"',
            'See docs/coupons.md for the spec keys.');
    END IF;
    IF t.scope = 'store' AND (t.skus IS NOT NULL OR t.categories IS NOT NULL) THEN
        PERFORM @extschema@._bad_definition('coupon', code, CASE WHEN t.skus IS NOT NULL THEN 'skus' ELSE 'categories' END,
            'applies only to "scope": "items"', 'See docs/coupons.md for the spec keys.');
    END IF;

    t.kind := spec ->> 'kind';
    IF t.kind IS NULL OR jsonb_typeof(spec -> 'kind') <> 'string' OR t.kind <> ALL (ARRAY['fixed', 'percent']) THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'kind', format('must be "fixed" or "percent", got %s', COALESCE((spec -> 'kind')::text, 'nothing')),
            'See docs/coupons.md for the spec keys.');
    END IF;
    IF jsonb_typeof(spec -> 'value') IS DISTINCT FROM 'number' THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'value', format('must be a number, got %s', COALESCE((spec -> 'value')::text, 'nothing')),
            'A fixed coupon''s value is in minor units; a percent coupon''s is 1 to 100.');
    END IF;
    t.value := (spec ->> 'value')::numeric;
    IF t.kind = 'fixed' AND NOT @extschema@._is_int_between(spec -> 'value', 1, 9223372036854775807) THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'value', format('must be a positive whole number of minor units, got %s', spec -> 'value'),
            'A fixed coupon''s value is in minor units (fen, cents).');
    END IF;
    IF t.kind = 'percent' AND (t.value <= 0 OR t.value > 100) THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'value', format('must be above 0 and at most 100 percent, got %s', spec -> 'value'),
            'A percent coupon''s value is the percentage off.');
    END IF;
    IF spec ? 'max_discount' THEN
        IF t.kind <> 'percent' THEN
            PERFORM @extschema@._bad_definition('coupon', code, 'max_discount', 'applies only to "kind": "percent"');
        END IF;
        t.max_discount := @extschema@._rule_positive(code, 'max_discount', spec -> 'max_discount', 'coupon');
    END IF;
    IF spec ? 'min_spend' AND NOT @extschema@._is_int_between(spec -> 'min_spend', 0, 9223372036854775807) THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'min_spend', format('must be a whole number of minor units, 0 or more, got %s', spec -> 'min_spend'),
            'min_spend is the threshold of a "spend 200 save 20" coupon; 0: none.');
    END IF;
    t.min_spend := COALESCE((spec ->> 'min_spend')::bigint, 0);

    t.valid_from := @extschema@._rule_instant(code, 'valid_from', spec -> 'valid_from', 'coupon');
    t.valid_until := @extschema@._rule_instant(code, 'valid_until', spec -> 'valid_until', 'coupon');
    IF t.valid_until <= t.valid_from THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'valid_until',
            format('(%s) must be later than valid_from (%s)', t.valid_until, t.valid_from));
    END IF;
    t.valid_days := @extschema@._rule_positive(code, 'valid_days', spec -> 'valid_days', 'coupon', 36500);
    t.total_quantity := @extschema@._rule_positive(code, 'total_quantity', spec -> 'total_quantity', 'coupon');
    t.per_member_limit := @extschema@._rule_positive(code, 'per_member_limit', spec -> 'per_member_limit', 'coupon', 1000000000);

    a := spec -> 'audience';
    IF a IS NOT NULL THEN
        IF jsonb_typeof(a) <> 'object' THEN
            PERFORM @extschema@._bad_definition('coupon', code, 'audience', 'must be an object',
                'For example {"members_only": true, "new_member_days": 7, "tiers": ["gold"], "tags": ["vip"]}.');
        END IF;
        SELECT k2 INTO k FROM jsonb_object_keys(a) k2
        WHERE k2 <> ALL (ARRAY['members_only', 'new_member_days', 'tiers', 'tags']) ORDER BY 1 LIMIT 1;
        IF k IS NOT NULL THEN
            PERFORM @extschema@._bad_definition('coupon', code, 'audience.' || k, 'is unknown',
                'audience keys: members_only, new_member_days, tiers, tags.');
        END IF;
        IF a ? 'members_only' AND jsonb_typeof(a -> 'members_only') <> 'boolean' THEN
            PERFORM @extschema@._bad_definition('coupon', code, 'audience.members_only', 'must be true or false');
        END IF;
        t.members_only := COALESCE((a ->> 'members_only')::boolean, false);
        t.new_member_days := @extschema@._rule_positive(code, 'audience.new_member_days', a -> 'new_member_days', 'coupon', 36500);
        t.audience_tiers := @extschema@._rule_text_array(code, 'audience.tiers', a -> 'tiers', 'coupon');
        t.audience_tags := @extschema@._rule_text_array(code, 'audience.tags', a -> 'tags', 'coupon');
    END IF;
    t.members_only := COALESCE(t.members_only, false);
    IF spec ? 'hidden' AND jsonb_typeof(spec -> 'hidden') <> 'boolean' THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'hidden', 'must be true or false');
    END IF;
    t.hidden := COALESCE((spec ->> 'hidden')::boolean, false);

    IF spec ? 'share' THEN
        IF jsonb_typeof(spec -> 'share') <> 'object' THEN
            PERFORM @extschema@._bad_definition('coupon', code, 'share', 'must be an object',
                'For example {"required_friends": 3, "friend_coupon": "friend10"}.');
        END IF;
        SELECT k2 INTO k FROM jsonb_object_keys(spec -> 'share') k2
        WHERE k2 <> ALL (ARRAY['required_friends', 'friend_coupon']) ORDER BY 1 LIMIT 1;
        IF k IS NOT NULL THEN
            PERFORM @extschema@._bad_definition('coupon', code, 'share.' || k, 'is unknown',
                'share keys: required_friends, friend_coupon.');
        END IF;
        t.share_required := @extschema@._rule_positive(code, 'share.required_friends', spec #> '{share,required_friends}', 'coupon', 1000);
        IF t.share_required IS NULL THEN
            PERFORM @extschema@._bad_definition('coupon', code, 'share.required_friends', 'is required');
        END IF;
        IF jsonb_typeof(spec #> '{share,friend_coupon}') IS DISTINCT FROM 'string' THEN
            PERFORM @extschema@._bad_definition('coupon', code, 'share.friend_coupon',
                'is required: the code of the template each friend gets');
        END IF;
        t.share_friend_template := spec #>> '{share,friend_coupon}';
        IF t.share_friend_template <> code AND NOT EXISTS (
               SELECT 1 FROM @extschema@.coupon_template f
               WHERE f.program_id = p.program_id AND f.code = t.share_friend_template) THEN
            PERFORM @extschema@._bad_definition('coupon', code, 'share.friend_coupon',
                format('names template "%s", which does not exist in program "%s"', t.share_friend_template, program),
                'Define the friends'' template first.');
        END IF;
    END IF;

    t.stacking := COALESCE(spec ->> 'stacking', 'default');
    IF spec ? 'stacking' AND (jsonb_typeof(spec -> 'stacking') <> 'string'
                              OR t.stacking <> ALL (ARRAY['exclusive', 'default', 'stackable'])) THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'stacking',
            format('must be "exclusive", "default" or "stackable", got %s', spec -> 'stacking'));
    END IF;
    IF spec ? 'counts_toward_lowest_price' AND jsonb_typeof(spec -> 'counts_toward_lowest_price') <> 'boolean' THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'counts_toward_lowest_price', 'must be true or false');
    END IF;
    t.counts_toward_lowest_price := COALESCE((spec ->> 'counts_toward_lowest_price')::boolean, t.scope = 'items');
    IF spec ? 'description' AND jsonb_typeof(spec -> 'description') <> 'string' THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'description', 'must be a string');
    END IF;

    -- a re-definition replaces the terms for what happens after it; the
    -- claimed count carries over (it is a count of coupons)
    UPDATE @extschema@.program SET definitions_version = definitions_version + 1
    WHERE program_id = p.program_id;
    SELECT * INTO prev FROM @extschema@.coupon_template ct
    WHERE ct.program_id = p.program_id AND ct.code = _define_coupon.code FOR UPDATE;
    IF prev.template_id IS NOT NULL AND prev.total_quantity IS DISTINCT FROM t.total_quantity
       AND t.total_quantity < prev.claimed THEN
        PERFORM @extschema@._bad_definition('coupon', code, 'total_quantity',
            format('(%s) is below the %s coupons already claimed', t.total_quantity, prev.claimed));
    END IF;
    t.template_id := COALESCE(prev.template_id, pg_catalog.nextval('@extschema@.coupon_template_id_seq'));
    t.program_id := p.program_id;
    t.code := code;
    t.spec := spec;
    t.claimed := COALESCE(prev.claimed, 0);
    t.defined_at := pg_catalog.clock_timestamp();
    IF prev.template_id IS NULL THEN
        INSERT INTO @extschema@.coupon_template SELECT t.*;
    ELSE
        UPDATE @extschema@.coupon_template ct SET (program_id, code, spec, scope, skus, categories, kind, value,
            max_discount, min_spend, valid_from, valid_until, valid_days, total_quantity, per_member_limit,
            members_only, new_member_days, audience_tiers, audience_tags, hidden, share_required,
            share_friend_template, stacking, counts_toward_lowest_price, claimed, defined_at)
          = (SELECT t.program_id, t.code, t.spec, t.scope, t.skus, t.categories, t.kind, t.value,
            t.max_discount, t.min_spend, t.valid_from, t.valid_until, t.valid_days, t.total_quantity,
            t.per_member_limit, t.members_only, t.new_member_days, t.audience_tiers, t.audience_tags,
            t.hidden, t.share_required, t.share_friend_template, t.stacking, t.counts_toward_lowest_price,
            t.claimed, t.defined_at)
        WHERE ct.template_id = t.template_id;
    END IF;
    PERFORM @extschema@._settings_changed();   -- backends reload the programme's definitions
    PERFORM @extschema@._audit(caller, p.program_id, 'define_coupon', code,
        jsonb_build_object('template_id', t.template_id, 'spec', spec, 'previous', prev.spec));
    RETURN t.template_id;
END
$$;
COMMENT ON FUNCTION @extschema@._define_coupon(oid, text, text, jsonb) IS 'Internal body of define_coupon.';


-- Evaluation (C: src/coupons.c) ----------------------------------------------
-- validate_coupon answers "may this member use this code on this cart?" with
-- a reason instead of raising; best_coupons picks the best allowed
-- combination of the member's coupons (algorithm in src/coupons.c and
-- docs/coupons.md).  Both read only, as the extension's owner, on the
-- caller's snapshot.

CREATE FUNCTION @extschema@.validate_coupon(code @extschema@.coupon_code, member bigint, cart jsonb,
                                            at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE(ok boolean, discount bigint, reason text)
LANGUAGE C STABLE
ROWS 1
AS 'MODULE_PATHNAME', 'ly_validate_coupon';
COMMENT ON FUNCTION @extschema@.validate_coupon(@extschema@.coupon_code, bigint, jsonb, timestamptz) IS
    'Whether the member may use the code on the cart at that instant: ok and the discount of the coupon alone, or a reason (unknown_code, void, not_owner, locked, already_used, not_started, expired, not_eligible, not_applicable, below_min_spend).  Raises only for bad arguments.';

CREATE FUNCTION @extschema@.best_coupons(member bigint, cart jsonb, at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE(code @extschema@.coupon_code, discount bigint)
LANGUAGE C STABLE
ROWS 3
AS 'MODULE_PATHNAME', 'ly_best_coupons';
COMMENT ON FUNCTION @extschema@.best_coupons(bigint, jsonb, timestamptz) IS
    'The member''s coupons that together give the largest discount on the cart under the stacking rules, each with what it contributes in the order of application; no rows if none applies.';

GRANT EXECUTE ON FUNCTION
    @extschema@.validate_coupon(@extschema@.coupon_code, bigint, jsonb, timestamptz),
    @extschema@.best_coupons(bigint, jsonb, timestamptz)
TO loyalty_app, loyalty_admin;

CREATE FUNCTION @extschema@._coupon_order_shares(member bigint, cart jsonb, codes @extschema@.coupon_code[],
                                                 at timestamptz)
RETURNS TABLE(code @extschema@.coupon_code, discount bigint)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_coupon_order_shares';
COMMENT ON FUNCTION @extschema@._coupon_order_shares(bigint, jsonb, @extschema@.coupon_code[], timestamptz) IS
    'Internal: each coupon''s share of one order''s discount, applied together; LY002 not_stackable when the set is not allowed.';

-- Claims ------------------------------------------------------------------------

-- Raise LY002 for a coupon refused with one of the stable reason words.
CREATE FUNCTION @extschema@._coupon_refused(reason text, message text, hint text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LY002',
        MESSAGE = format('%s: %s', reason, message),
        DETAIL = format('reason: %s', reason),
        HINT = COALESCE(hint, 'See docs/coupons.md for what each reason means.');
END
$$;
COMMENT ON FUNCTION @extschema@._coupon_refused(text, text, text) IS 'Internal: raise LY002 carrying a coupon reason word.';

-- The template `code` of the member's programme, locked when `lock`; LY018 if none.
CREATE FUNCTION @extschema@._coupon_template(program_id bigint, code text, lock boolean)
RETURNS @extschema@.coupon_template
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t @extschema@.coupon_template;
BEGIN
    IF lock THEN
        SELECT * INTO t FROM @extschema@.coupon_template ct
        WHERE ct.program_id = _coupon_template.program_id AND ct.code = _coupon_template.code FOR UPDATE;
    ELSE
        SELECT * INTO t FROM @extschema@.coupon_template ct
        WHERE ct.program_id = _coupon_template.program_id AND ct.code = _coupon_template.code;
    END IF;
    IF t.template_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'LY018',
            MESSAGE = format('coupon template "%s" does not exist in the member''s programme', code),
            HINT = 'Define it with loyalty.define_coupon().';
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION @extschema@._coupon_template(bigint, text, boolean) IS 'Internal: a programme''s coupon template by code, or LY018.';

-- The member row, locked (every claim and redemption starts with it).
CREATE FUNCTION @extschema@._coupon_member(member bigint, argname text DEFAULT 'member')
RETURNS @extschema@.member
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m @extschema@.member;
BEGIN
    PERFORM @extschema@._require(member, argname);
    SELECT * INTO m FROM @extschema@.member mm WHERE mm.member_id = _coupon_member.member FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LY004', MESSAGE = format('member %s does not exist', member),
            HINT = 'Enrol the customer with loyalty.enroll() first.';
    END IF;
    PERFORM @extschema@._require_program(m.program_id);
    RETURN m;
END
$$;
COMMENT ON FUNCTION @extschema@._coupon_member(bigint, text) IS 'Internal: lock a member row for a coupon operation, or LY004.';

-- Why the member may not have one more coupon of template t at `at` (NULL:
-- they may).  Checked in this order: not_started, ended, not_eligible
-- (audience), limit_reached (per_member_limit, new_member_days once),
-- sold_out (total_quantity, without taking one).
CREATE FUNCTION @extschema@._coupon_claim_refusal(t @extschema@.coupon_template, m @extschema@.member, at timestamptz)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    held bigint;
BEGIN
    IF at < t.valid_from THEN
        RETURN 'not_started';
    END IF;
    IF at >= t.valid_until THEN
        RETURN 'ended';
    END IF;
    IF t.new_member_days IS NOT NULL AND m.joined_at < at - pg_catalog.make_interval(days => t.new_member_days) THEN
        RETURN 'not_eligible';
    END IF;
    IF t.audience_tiers IS NOT NULL
       AND NOT COALESCE(@extschema@.tier(m.member_id, at) = ANY (t.audience_tiers), false) THEN
        RETURN 'not_eligible';
    END IF;
    IF t.audience_tags IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM @extschema@.member_tag g WHERE g.member_id = m.member_id AND g.tag = ANY (t.audience_tags)) THEN
        RETURN 'not_eligible';
    END IF;
    IF t.per_member_limit IS NOT NULL OR t.new_member_days IS NOT NULL THEN
        SELECT count(*) INTO held FROM @extschema@.coupon c
        WHERE c.member_id = m.member_id AND c.template_id = t.template_id;
        IF held >= LEAST(t.per_member_limit, CASE WHEN t.new_member_days IS NOT NULL THEN 1 END) THEN
            RETURN 'limit_reached';
        END IF;
    END IF;
    IF t.total_quantity IS NOT NULL AND t.claimed >= t.total_quantity THEN
        RETURN 'sold_out';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@._coupon_claim_refusal(@extschema@.coupon_template, @extschema@.member, timestamptz) IS
    'Internal: the reason word refusing one more coupon of a template to a member, or NULL.';

-- Count one more claimed coupon of the template; false when sold out.  The
-- template row stays locked until the transaction ends: claims of one
-- campaign queue there, which is what makes total_quantity exact.
CREATE FUNCTION @extschema@._coupon_take(template_id bigint)
RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    WITH u AS (
        UPDATE @extschema@.coupon_template t SET claimed = t.claimed + 1
        WHERE t.template_id = _coupon_take.template_id
          AND (t.total_quantity IS NULL OR t.claimed < t.total_quantity)
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM u)
$$;
COMMENT ON FUNCTION @extschema@._coupon_take(bigint) IS 'Internal: count one claimed coupon against total_quantity, or false if sold out.';

-- A claimed coupon's window: from the template's start, until the earlier of
-- the template's end and valid_days after the claim.
CREATE FUNCTION @extschema@._coupon_window_end(t @extschema@.coupon_template, claimed_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN t.valid_days IS NULL THEN t.valid_until
                ELSE LEAST(t.valid_until, claimed_at + pg_catalog.make_interval(days => t.valid_days)) END
$$;
COMMENT ON FUNCTION @extschema@._coupon_window_end(@extschema@.coupon_template, timestamptz) IS 'Internal: when a coupon claimed at claimed_at stops being valid.';

-- Claim a new coupon of template t for member m (checks done by the caller,
-- except quantity): its code.
CREATE FUNCTION @extschema@._coupon_new(t @extschema@.coupon_template, m @extschema@.member, at timestamptz, state text)
RETURNS @extschema@.coupon_code
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_code @extschema@.coupon_code;
BEGIN
    IF NOT @extschema@._coupon_take(t.template_id) THEN
        PERFORM @extschema@._coupon_refused('sold_out', format('coupon template "%s" has no coupons left', t.code));
    END IF;
    LOOP   -- 55 random bits: a collision is rare, and retried
        INSERT INTO @extschema@.coupon (code, template_id, program_id, member_id, state, issued_at,
                                        claimed_at, valid_from, valid_until)
        VALUES (@extschema@._new_coupon_code(), t.template_id, t.program_id, m.member_id, state, at,
                at, t.valid_from, @extschema@._coupon_window_end(t, at))
        ON CONFLICT (code) DO NOTHING
        RETURNING code INTO new_code;
        EXIT WHEN new_code IS NOT NULL;
    END LOOP;
    RETURN new_code;
END
$$;
COMMENT ON FUNCTION @extschema@._coupon_new(@extschema@.coupon_template, @extschema@.member, timestamptz, text) IS
    'Internal: create a claimed coupon (state available or locked) for a member.';

CREATE FUNCTION @extschema@.claim_coupon(member bigint, template text, at timestamptz DEFAULT now())
RETURNS @extschema@.coupon_code
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.claim_coupon(bigint, text, timestamptz) IS
    'Claim a coupon of a campaign for a member; a refusal raises LY002 with its reason word.';

CREATE FUNCTION @extschema@._claim_coupon(caller oid, member bigint, template text, at timestamptz)
RETURNS @extschema@.coupon_code
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m @extschema@.member := @extschema@._coupon_member(member);
    t @extschema@.coupon_template;
    refusal text;
BEGIN
    PERFORM @extschema@._require(template, 'template'), @extschema@._require_instant(at);
    t := @extschema@._coupon_template(m.program_id, template, false);
    IF t.hidden THEN
        PERFORM @extschema@._coupon_refused('hidden', format('coupon template "%s" is claimable only by code or share', template));
    END IF;
    IF t.share_required IS NOT NULL THEN
        PERFORM @extschema@._coupon_refused('not_eligible', format('coupon template "%s" is unlocked by sharing', template),
            'Start a share with loyalty.start_share().');
    END IF;
    refusal := @extschema@._coupon_claim_refusal(t, m, at);
    IF refusal IS NOT NULL THEN
        PERFORM @extschema@._coupon_refused(refusal, format('member %s cannot claim coupon template "%s"', member, template));
    END IF;
    RETURN @extschema@._coupon_new(t, m, at, 'available');
END
$$;
COMMENT ON FUNCTION @extschema@._claim_coupon(oid, bigint, text, timestamptz) IS 'Internal body of claim_coupon.';

-- Codes for SMS and links ---------------------------------------------------------

CREATE FUNCTION @extschema@.issue_codes(program text, template text, n int)
RETURNS SETOF @extschema@.coupon_code
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.issue_codes(text, text, int) IS
    'Issue n unclaimed codes of a campaign (for SMS or links); claimed later by claim_code or at checkout.';

CREATE FUNCTION @extschema@._issue_codes(caller oid, program text, template text, n int)
RETURNS SETOF @extschema@.coupon_code
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.program := @extschema@._program_row(program);
    t @extschema@.coupon_template;
    made bigint := 0;
    got bigint;
BEGIN
    PERFORM @extschema@._require(template, 'template'), @extschema@._require(n, 'n');
    IF n < 1 OR n > 10000000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('n must be between 1 and 10000000, got %s', n);
    END IF;
    t := @extschema@._coupon_template(p.program_id, template, false);
    WHILE made < n LOOP   -- colliding codes are skipped and made up
        RETURN QUERY
        WITH ins AS (
            INSERT INTO @extschema@.coupon (code, template_id, program_id, state, issued_at, valid_from, valid_until)
            SELECT @extschema@._new_coupon_code(), t.template_id, t.program_id, 'issued', pg_catalog.now(),
                   t.valid_from, t.valid_until
            FROM pg_catalog.generate_series(1, n - made)
            ON CONFLICT (code) DO NOTHING
            RETURNING code)
        SELECT code FROM ins;
        GET DIAGNOSTICS got = ROW_COUNT;
        made := made + got;
    END LOOP;
    PERFORM @extschema@._audit(caller, p.program_id, 'issue_codes', template, jsonb_build_object('n', n));
END
$$;
COMMENT ON FUNCTION @extschema@._issue_codes(oid, text, text, int) IS 'Internal body of issue_codes.';

CREATE FUNCTION @extschema@.claim_code(member bigint, code @extschema@.coupon_code, at timestamptz DEFAULT now())
RETURNS @extschema@.coupon_code
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.claim_code(bigint, @extschema@.coupon_code, timestamptz) IS
    'Claim an issued code for a member; a refusal raises LY002 with its reason word.';

-- Claim the issued coupon c (locked by the caller) for member m.
CREATE FUNCTION @extschema@._coupon_claim_issued(c @extschema@.coupon, m @extschema@.member, at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t @extschema@.coupon_template;
    refusal text;
BEGIN
    SELECT * INTO t FROM @extschema@.coupon_template ct WHERE ct.template_id = c.template_id;
    refusal := @extschema@._coupon_claim_refusal(t, m, at);
    IF refusal IS NOT NULL THEN
        PERFORM @extschema@._coupon_refused(refusal, format('member %s cannot claim code %s', m.member_id, c.code));
    END IF;
    IF NOT @extschema@._coupon_take(t.template_id) THEN
        PERFORM @extschema@._coupon_refused('sold_out', format('coupon template "%s" has no coupons left', t.code));
    END IF;
    UPDATE @extschema@.coupon SET member_id = m.member_id, state = 'available', claimed_at = at,
        valid_from = t.valid_from, valid_until = @extschema@._coupon_window_end(t, at)
    WHERE coupon.code OPERATOR(@extschema@.=) c.code;
END
$$;
COMMENT ON FUNCTION @extschema@._coupon_claim_issued(@extschema@.coupon, @extschema@.member, timestamptz) IS
    'Internal: give an issued code to a member, with the checks of a claim.';

CREATE FUNCTION @extschema@._claim_code(caller oid, member bigint, code @extschema@.coupon_code, at timestamptz)
RETURNS @extschema@.coupon_code
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m @extschema@.member := @extschema@._coupon_member(member);
    c @extschema@.coupon;
BEGIN
    PERFORM @extschema@._require(code, 'code'), @extschema@._require_instant(at);
    SELECT * INTO c FROM @extschema@.coupon cc WHERE cc.code OPERATOR(@extschema@.=) _claim_code.code FOR UPDATE;
    IF c.code IS NULL OR c.program_id <> m.program_id THEN
        PERFORM @extschema@._coupon_refused('unknown_code', format('code %s is not a coupon of the member''s programme', code));
    END IF;
    IF c.member_id IS NOT NULL THEN
        PERFORM @extschema@._coupon_refused('already_claimed', format('code %s is already claimed', code));
    END IF;
    IF c.state <> 'issued' OR at >= c.valid_until THEN
        PERFORM @extschema@._coupon_refused('ended', format('code %s is no longer valid', code));
    END IF;
    PERFORM @extschema@._coupon_claim_issued(c, m, at);
    RETURN c.code;
END
$$;
COMMENT ON FUNCTION @extschema@._claim_code(oid, bigint, @extschema@.coupon_code, timestamptz) IS 'Internal body of claim_code.';

-- The coupon `code`, locked after its member's row (the extension's one lock
-- order: member first); LY002 unknown_code if there is no such coupon.
CREATE FUNCTION @extschema@._coupon_locked(code @extschema@.coupon_code)
RETURNS @extschema@.coupon
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c @extschema@.coupon;
    owner bigint;
    pid bigint;
BEGIN
    LOOP
        SELECT cc.member_id, cc.program_id INTO owner, pid FROM @extschema@.coupon cc WHERE cc.code OPERATOR(@extschema@.=) _coupon_locked.code;
        IF NOT FOUND THEN
            PERFORM @extschema@._coupon_refused('unknown_code', format('code %s is not a coupon', code));
        END IF;
        PERFORM @extschema@._require_program(pid);
        IF owner IS NOT NULL THEN
            PERFORM 1 FROM @extschema@.member m WHERE m.member_id = owner FOR UPDATE;
        END IF;
        BEGIN
            SELECT * INTO c FROM @extschema@.coupon cc WHERE cc.code OPERATOR(@extschema@.=) _coupon_locked.code FOR UPDATE;
            IF c.member_id IS DISTINCT FROM owner THEN
                -- claimed meanwhile: give the coupon lock back (this block's
                -- rollback) before locking its new member, then again
                RAISE EXCEPTION USING ERRCODE = 'LY099';
            END IF;
            RETURN c;
        EXCEPTION WHEN SQLSTATE 'LY099' THEN
            NULL;
        END;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._coupon_locked(@extschema@.coupon_code) IS 'Internal: lock a coupon after its member''s row.';

-- Using coupons ------------------------------------------------------------------------

CREATE FUNCTION @extschema@.redeem_coupon(code @extschema@.coupon_code, member bigint, order_ref text, cart jsonb,
                                          at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.redeem_coupon(@extschema@.coupon_code, bigint, text, jsonb, timestamptz) IS
    'Use a coupon on an order; returns the discount.  Idempotent per order_ref; a refusal raises LY002 with its reason word.';

CREATE FUNCTION @extschema@._redeem_coupon(caller oid, code @extschema@.coupon_code, member bigint, order_ref text,
                                           cart jsonb, at timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m @extschema@.member := @extschema@._coupon_member(member);
    c @extschema@.coupon;
    v record;
    cart_value bigint;
    order_codes @extschema@.coupon_code[];
    share bigint;
BEGIN
    PERFORM @extschema@._require(code, 'code'), @extschema@._require(cart, 'cart'), @extschema@._require_instant(at);
    IF order_ref IS NULL OR order_ref = '' THEN
        RAISE EXCEPTION USING ERRCODE = CASE WHEN order_ref IS NULL THEN 'null_value_not_allowed' ELSE 'invalid_parameter_value' END,
            MESSAGE = CASE WHEN order_ref IS NULL THEN 'order_ref must not be NULL' ELSE 'order_ref must not be empty' END;
    END IF;
    SELECT * INTO c FROM @extschema@.coupon cc WHERE cc.code OPERATOR(@extschema@.=) _redeem_coupon.code FOR UPDATE;
    -- under the lock (a new statement sees what a concurrent redemption
    -- committed): the cart checked (22023 if malformed), the coupon priced alone
    SELECT * INTO v FROM @extschema@.validate_coupon(code, member, cart, at);
    -- validate_coupon accepted the cart: whole numbers, maybe written 1000.0
    cart_value := (SELECT COALESCE(sum((l ->> 'price')::numeric * COALESCE((l ->> 'qty')::numeric, 1)), 0)::bigint
                   FROM jsonb_array_elements(cart -> 'lines') l);
    IF c.state = 'used' AND c.order_ref = _redeem_coupon.order_ref AND c.member_id = member THEN
        IF c.order_value IS DISTINCT FROM cart_value THEN
            RAISE EXCEPTION USING ERRCODE = 'LY005',
                MESSAGE = format('coupon %s was already redeemed on order "%s" with a different cart', code, order_ref),
                DETAIL = format('The first cart''s list price was %s; this cart''s is %s.', c.order_value, cart_value),
                HINT = 'Release the coupon (loyalty.release_coupon) before redeeming it on a changed order.';
        END IF;
        RETURN c.discount;   -- the same order again
    END IF;
    IF NOT v.ok THEN
        PERFORM @extschema@._coupon_refused(v.reason, format('coupon %s cannot be used by member %s on order "%s"',
                                                             code, member, order_ref));
    END IF;
    -- the coupons of one order are priced on one cart
    IF EXISTS (SELECT 1 FROM @extschema@.coupon cc
               WHERE cc.member_id = member AND cc.order_ref = _redeem_coupon.order_ref AND cc.state = 'used'
                 AND cc.order_value IS DISTINCT FROM cart_value) THEN
        RAISE EXCEPTION USING ERRCODE = 'LY005',
            MESSAGE = format('order "%s" already uses coupons on a different cart', order_ref),
            DETAIL = format('This cart''s list price is %s.', cart_value),
            HINT = 'Redeem every coupon of an order with the same cart; release them first if the order changed.';
    END IF;
    IF c.member_id IS NULL THEN
        PERFORM @extschema@._coupon_claim_issued(c, m, at);   -- presented at checkout: claimed and used at once
    END IF;
    UPDATE @extschema@.coupon cc SET state = 'used', order_ref = _redeem_coupon.order_ref, used_at = at,
        discount = v.discount, order_value = cart_value
    WHERE cc.code OPERATOR(@extschema@.=) c.code;
    -- with the coupons the order already uses: stacking allowed, shares in order of application
    SELECT array_agg(cc.code) INTO order_codes FROM @extschema@.coupon cc
    WHERE cc.member_id = member AND cc.order_ref = _redeem_coupon.order_ref AND cc.state = 'used';
    IF array_length(order_codes, 1) > 1 THEN
        UPDATE @extschema@.coupon cc SET discount = s.discount
        FROM @extschema@._coupon_order_shares(member, cart, order_codes, at) s
        WHERE cc.code OPERATOR(@extschema@.=) s.code;
        SELECT cc.discount INTO share FROM @extschema@.coupon cc WHERE cc.code OPERATOR(@extschema@.=) c.code;
        RETURN share;
    END IF;
    RETURN v.discount;
END
$$;
COMMENT ON FUNCTION @extschema@._redeem_coupon(oid, @extschema@.coupon_code, bigint, text, jsonb, timestamptz) IS 'Internal body of redeem_coupon.';

CREATE FUNCTION @extschema@.release_coupon(code @extschema@.coupon_code, order_ref text, at timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.release_coupon(@extschema@.coupon_code, text, timestamptz) IS
    'Give back a coupon used by a cancelled or refunded order: usable again while still valid, else expired.  True if it was used by that order.';

CREATE FUNCTION @extschema@._release_coupon(caller oid, code @extschema@.coupon_code, order_ref text, at timestamptz)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c @extschema@.coupon;
BEGIN
    PERFORM @extschema@._require(code, 'code'), @extschema@._require(order_ref, 'order_ref'),
            @extschema@._require_instant(at);
    c := @extschema@._coupon_locked(code);
    IF c.state <> 'used' OR c.order_ref IS DISTINCT FROM _release_coupon.order_ref THEN
        RETURN false;   -- not used by that order (or released already)
    END IF;
    UPDATE @extschema@.coupon cc
    SET state = CASE WHEN at >= cc.valid_until THEN 'expired' ELSE 'available' END,
        closed_at = CASE WHEN at >= cc.valid_until THEN at END,
        order_ref = NULL, used_at = NULL, discount = NULL, order_value = NULL
    WHERE cc.code OPERATOR(@extschema@.=) c.code;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@._release_coupon(oid, @extschema@.coupon_code, text, timestamptz) IS 'Internal body of release_coupon.';

CREATE FUNCTION @extschema@.void_coupon(code @extschema@.coupon_code, reason text, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.void_coupon(@extschema@.coupon_code, text, timestamptz) IS
    'Void a coupon (administrators; audited).  A used coupon cannot be voided.';

CREATE FUNCTION @extschema@._void_coupon(caller oid, code @extschema@.coupon_code, reason text, at timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c @extschema@.coupon;
BEGIN
    PERFORM @extschema@._require(code, 'code'), @extschema@._require(reason, 'reason'), @extschema@._require_instant(at);
    c := @extschema@._coupon_locked(code);
    IF c.state = 'used' THEN
        PERFORM @extschema@._coupon_refused('already_used', format('coupon %s was used by order "%s"', code, c.order_ref),
            'Release it first (loyalty.release_coupon) if the order was cancelled.');
    END IF;
    IF c.state = 'void' THEN
        RETURN;
    END IF;
    UPDATE @extschema@.coupon cc SET state = 'void', void_reason = reason, closed_at = at WHERE cc.code OPERATOR(@extschema@.=) c.code;
    PERFORM @extschema@._audit(caller, c.program_id, 'void_coupon', code::text,
        jsonb_build_object('reason', reason, 'state_before', c.state, 'member', c.member_id));
END
$$;
COMMENT ON FUNCTION @extschema@._void_coupon(oid, @extschema@.coupon_code, text, timestamptz) IS 'Internal body of void_coupon.';

CREATE FUNCTION @extschema@.member_coupons(member bigint, at timestamptz DEFAULT now())
RETURNS TABLE(code @extschema@.coupon_code, template text, state text, valid_until timestamptz)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.member_coupons(bigint, timestamptz) IS
    'A member''s coupons claimed by that instant, with their state then: available, not_started, locked, used, expired, void.';

CREATE FUNCTION @extschema@._member_coupons(caller oid, member bigint, at timestamptz)
RETURNS TABLE(code @extschema@.coupon_code, template text, state text, valid_until timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@._require(member, 'member'), @extschema@._require_instant(at);
    PERFORM @extschema@._member_exists(member);
    -- the state at `at`, from the coupon's times: used from used_at, void
    -- from closed_at, locked until its share unlocked, expired from the end
    -- of its window (booked by expire_coupons or not)
    RETURN QUERY
    SELECT c.code, t.code,
           CASE WHEN c.state = 'void' AND c.closed_at <= at THEN 'void'
                WHEN c.state = 'used' AND c.used_at <= at THEN 'used'
                WHEN at >= c.valid_until THEN 'expired'
                WHEN at < c.valid_from THEN 'not_started'
                WHEN c.state = 'locked' OR s.unlocked_at > at THEN 'locked'
                ELSE 'available' END,
           c.valid_until
    FROM @extschema@.coupon c
    JOIN @extschema@.coupon_template t ON t.template_id = c.template_id
    LEFT JOIN @extschema@.coupon_share s ON s.code OPERATOR(@extschema@.=) c.code
    WHERE c.member_id = _member_coupons.member AND c.claimed_at <= at
    ORDER BY c.valid_until NULLS LAST, c.code;
END
$$;
COMMENT ON FUNCTION @extschema@._member_coupons(oid, bigint, timestamptz) IS 'Internal body of member_coupons.';

-- Share to unlock ------------------------------------------------------------------------

CREATE FUNCTION @extschema@.start_share(member bigint, template text, at timestamptz DEFAULT now())
RETURNS text
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.start_share(bigint, text, timestamptz) IS
    'Claim a share-to-unlock coupon, locked until enough friends join; returns the share token.';

CREATE FUNCTION @extschema@._start_share(caller oid, member bigint, template text, at timestamptz)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m @extschema@.member := @extschema@._coupon_member(member);
    t @extschema@.coupon_template;
    refusal text;
    new_code @extschema@.coupon_code;
    token text;
BEGIN
    PERFORM @extschema@._require(template, 'template'), @extschema@._require_instant(at);
    t := @extschema@._coupon_template(m.program_id, template, false);
    IF t.share_required IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'LY013',
            MESSAGE = format('coupon template "%s" has no "share" terms', template),
            HINT = 'Claim it with loyalty.claim_coupon().';
    END IF;
    refusal := @extschema@._coupon_claim_refusal(t, m, at);
    IF refusal IS NOT NULL THEN
        PERFORM @extschema@._coupon_refused(refusal, format('member %s cannot start a share of coupon template "%s"', member, template));
    END IF;
    new_code := @extschema@._coupon_new(t, m, at, 'locked');
    LOOP
        token := lower(replace(@extschema@._new_coupon_code()::text, '-', ''));
        INSERT INTO @extschema@.coupon_share (token, program_id, template_id, sharer, code, required, friend_template, created_at)
        VALUES (token, t.program_id, t.template_id, m.member_id, new_code, t.share_required, t.share_friend_template, at)
        ON CONFLICT DO NOTHING;
        EXIT WHEN FOUND;
    END LOOP;
    RETURN token;
END
$$;
COMMENT ON FUNCTION @extschema@._start_share(oid, bigint, text, timestamptz) IS 'Internal body of start_share.';

CREATE FUNCTION @extschema@.join_share(token text, friend bigint, at timestamptz DEFAULT now())
RETURNS @extschema@.coupon_code
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.join_share(text, bigint, timestamptz) IS
    'A friend joins a share: gets the friend coupon (once), and the sharer''s coupon unlocks when enough friends joined.';

CREATE FUNCTION @extschema@._join_share(caller oid, token text, friend bigint, at timestamptz)
RETURNS @extschema@.coupon_code
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m @extschema@.member;
    s @extschema@.coupon_share;
    t @extschema@.coupon_template;
    refusal text;
    new_code @extschema@.coupon_code;
    joined int;
    sharer bigint;
BEGIN
    PERFORM @extschema@._require(token, 'token'), @extschema@._require(friend, 'friend'),
            @extschema@._require_instant(at);
    -- both members' rows first, in member id order: the friend's coupon is
    -- created and the sharer's may unlock
    SELECT cs.sharer INTO sharer FROM @extschema@.coupon_share cs WHERE cs.token = _join_share.token;
    IF sharer IS NOT NULL AND sharer < friend THEN
        PERFORM 1 FROM @extschema@.member mm WHERE mm.member_id = sharer FOR UPDATE;
    END IF;
    m := @extschema@._coupon_member(friend, 'friend');
    IF sharer IS NOT NULL AND sharer > friend THEN
        PERFORM 1 FROM @extschema@.member mm WHERE mm.member_id = sharer FOR UPDATE;
    END IF;
    SELECT * INTO s FROM @extschema@.coupon_share cs WHERE cs.token = _join_share.token FOR UPDATE;
    IF s.token IS NULL OR s.program_id <> m.program_id THEN
        PERFORM @extschema@._coupon_refused('unknown_code', format('share token "%s" does not exist in the member''s programme', token));
    END IF;
    IF s.sharer = friend THEN
        PERFORM @extschema@._coupon_refused('not_eligible', 'a member cannot join their own share');
    END IF;
    SELECT f.code INTO new_code FROM @extschema@.coupon_share_friend f WHERE f.token = s.token AND f.friend = _join_share.friend;
    IF new_code IS NOT NULL THEN
        RETURN new_code;   -- a friend counts once
    END IF;
    t := @extschema@._coupon_template(s.program_id, s.friend_template, false);
    refusal := @extschema@._coupon_claim_refusal(t, m, at);
    IF refusal IS NOT NULL THEN
        PERFORM @extschema@._coupon_refused(refusal, format('member %s cannot get coupon template "%s"', friend, t.code));
    END IF;
    new_code := @extschema@._coupon_new(t, m, at, 'available');
    INSERT INTO @extschema@.coupon_share_friend (token, friend, code, joined_at) VALUES (s.token, friend, new_code, at);
    SELECT count(*) INTO joined FROM @extschema@.coupon_share_friend f WHERE f.token = s.token;
    IF joined >= s.required AND s.unlocked_at IS NULL THEN
        UPDATE @extschema@.coupon c SET state = 'available' WHERE c.code OPERATOR(@extschema@.=) s.code AND c.state = 'locked';
        UPDATE @extschema@.coupon_share cs SET unlocked_at = at WHERE cs.token = s.token;
    END IF;
    RETURN new_code;
END
$$;
COMMENT ON FUNCTION @extschema@._join_share(oid, text, bigint, timestamptz) IS 'Internal body of join_share.';

CREATE FUNCTION @extschema@.share_status(token text)
RETURNS TABLE(code @extschema@.coupon_code, joined int, required int, unlocked boolean)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.share_status(text) IS 'A share''s progress: the sharer''s coupon, friends joined, friends required, unlocked.';

CREATE FUNCTION @extschema@._share_status(caller oid, token text)
RETURNS TABLE(code @extschema@.coupon_code, joined int, required int, unlocked boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pid bigint;
BEGIN
    PERFORM @extschema@._require(token, 'token');
    SELECT s.program_id INTO pid FROM @extschema@.coupon_share s WHERE s.token = _share_status.token;
    IF NOT FOUND THEN
        PERFORM @extschema@._coupon_refused('unknown_code', format('share token "%s" does not exist', token));
    END IF;
    PERFORM @extschema@._require_program(pid);
    RETURN QUERY
    SELECT s.code, (SELECT count(*)::int FROM @extschema@.coupon_share_friend f WHERE f.token = s.token),
           s.required, s.unlocked_at IS NOT NULL
    FROM @extschema@.coupon_share s WHERE s.token = _share_status.token;
END
$$;
COMMENT ON FUNCTION @extschema@._share_status(oid, text) IS 'Internal body of share_status.';

-- Expiry ------------------------------------------------------------------------------------

CREATE PROCEDURE @extschema@.expire_coupons(as_of timestamptz DEFAULT now(), batch_size int DEFAULT 10000)
LANGUAGE C
AS 'MODULE_PATHNAME', 'ly_expire_coupons';
COMMENT ON PROCEDURE @extschema@.expire_coupons(timestamptz, int) IS
    'Book as expired every unused coupon whose window ended by as_of.  Commits per batch; resumable.';

-- Reporting -----------------------------------------------------------------------------------

CREATE VIEW @extschema@.coupon_performance WITH (security_barrier) AS
SELECT p.code AS program, t.code AS template, t.scope, t.kind,
       count(c.code) FILTER (WHERE c.member_id IS NOT NULL) AS claimed,
       count(c.code) FILTER (WHERE c.state = 'used') AS redeemed,
       count(c.code) FILTER (WHERE c.state = 'expired' AND c.member_id IS NOT NULL) AS expired,
       count(c.code) FILTER (WHERE c.state = 'void') AS voided,
       count(c.code) FILTER (WHERE c.state = 'issued') AS issued_unclaimed,
       count(c.code) FILTER (WHERE c.state = 'expired' AND c.member_id IS NULL) AS issued_expired,
       round(100.0 * count(c.code) FILTER (WHERE c.state = 'used')
             / NULLIF(count(c.code) FILTER (WHERE c.member_id IS NOT NULL), 0), 2) AS redemption_rate_pct,
       COALESCE(sum(c.discount) FILTER (WHERE c.state = 'used'), 0)::bigint AS discount_given,
       COALESCE((SELECT sum(o.order_value) FROM (
           SELECT DISTINCT ON (u.member_id, u.order_ref) u.order_value FROM @extschema@.coupon u
           WHERE u.template_id = t.template_id AND u.state = 'used') o), 0)::bigint AS order_value
FROM @extschema@.coupon_template t
JOIN @extschema@.program p ON p.program_id = t.program_id
LEFT JOIN @extschema@.coupon c ON c.template_id = t.template_id
WHERE @extschema@.program_visible(p.program_id)
GROUP BY p.code, t.template_id, t.code, t.scope, t.kind;
COMMENT ON VIEW @extschema@.coupon_performance IS
    'Per coupon campaign: claimed, redeemed, expired, voided, redemption rate, discount given and the order value it touched.';
