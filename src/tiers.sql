-- tiers.sql: tier definitions and every member's tier history (SPEC section
-- 5).  Tier computation is C (src/tiers.c); the current tier of a member is
-- kept on loyalty.member (tier, tier_since) and every change in tier_history.

CREATE TABLE @extschema@.tier (
    program_id      bigint NOT NULL REFERENCES @extschema@.program,
    code            text NOT NULL CHECK (code OPERATOR(pg_catalog.<>) ''),
    rank            int NOT NULL,
    threshold       bigint NOT NULL CHECK (threshold OPERATOR(pg_catalog.>=) 0),
    discount_pct    numeric NOT NULL,
    earn_multiplier numeric NOT NULL,
    benefits        jsonb NOT NULL DEFAULT '{}',
    defined_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    PRIMARY KEY (program_id, code),
    UNIQUE (program_id, rank)
);
COMMENT ON TABLE @extschema@.tier IS 'Membership tiers of a programme: reached at threshold qualifying points (or spend).';

CREATE SEQUENCE @extschema@.tier_change_id_seq;

CREATE TABLE @extschema@.tier_history (
    member_id   bigint NOT NULL,
    change_id   bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.tier_change_id_seq'),
    at          timestamptz NOT NULL,
    from_tier   text,                       -- NULL: below the lowest tier
    to_tier     text,
    qualifying  bigint NOT NULL,            -- the qualifying total that decided it
    reason      text NOT NULL,              -- upgrade, review, ...
    detail      jsonb,
    PRIMARY KEY (member_id, change_id)
);
CREATE INDEX tier_history_at ON @extschema@.tier_history (member_id, at);
COMMENT ON TABLE @extschema@.tier_history IS 'Every tier change of every member: from, to, when and why.';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.tier', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tier_history', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tier_change_id_seq', '');

-- define_tier -----------------------------------------------------------------

CREATE FUNCTION @extschema@.define_tier(program text, code text, rank int, threshold bigint,
                                        discount_pct numeric DEFAULT 0, earn_multiplier numeric DEFAULT 1,
                                        benefits jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.define_tier(text, text, int, bigint, numeric, numeric, jsonb) IS
    'Define or re-define a tier: reached at threshold qualifying points (or minor units of spend); returns its rank.';

CREATE FUNCTION @extschema@._define_tier(caller oid, program text, code text, rank int, threshold bigint,
                                         discount_pct numeric, earn_multiplier numeric, benefits jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.program := @extschema@._program_row(program);
    prev @extschema@.tier;
    clash text;
BEGIN
    PERFORM @extschema@._require(code, 'code'), @extschema@._require(rank, 'rank'),
            @extschema@._require(threshold, 'threshold'), @extschema@._require(discount_pct, 'discount_pct'),
            @extschema@._require(earn_multiplier, 'earn_multiplier'), @extschema@._require(benefits, 'benefits');
    PERFORM @extschema@._require_code(code, 'tier');
    IF threshold < 0 THEN
        PERFORM @extschema@._bad_definition('tier', code, 'threshold', format('must not be negative, got %s', threshold),
            'A threshold is the qualifying total at which the tier is reached.');
    END IF;
    IF discount_pct = 'NaN'::numeric OR discount_pct < 0 OR discount_pct > 100 THEN
        PERFORM @extschema@._bad_definition('tier', code, 'discount_pct', format('must be between 0 and 100, got %s', discount_pct),
            'discount_pct is a percentage.');
    END IF;
    IF earn_multiplier = 'NaN'::numeric OR earn_multiplier <= 0 OR earn_multiplier > 1000 THEN
        PERFORM @extschema@._bad_definition('tier', code, 'earn_multiplier', format('must be above 0 and at most 1000, got %s', earn_multiplier),
            'earn_multiplier multiplies the points an order earns (1: no change).');
    END IF;
    IF jsonb_typeof(benefits) <> 'object' THEN
        PERFORM @extschema@._bad_definition('tier', code, 'benefits', format('must be a JSON object, got %s', jsonb_typeof(benefits)),
            'benefits is free-form: {"priority_service": true, "birthday_gift": "cake"}.');
    END IF;

    UPDATE @extschema@.program SET definitions_version = definitions_version + 1
    WHERE program_id = p.program_id;
    SELECT * INTO prev FROM @extschema@.tier t WHERE t.program_id = p.program_id AND t.code = _define_tier.code;
    -- ranks order tiers, and a higher rank needs a higher threshold
    SELECT t.code INTO clash FROM @extschema@.tier t
    WHERE t.program_id = p.program_id AND t.code <> _define_tier.code
      AND (t.rank = _define_tier.rank
           OR (t.rank < _define_tier.rank AND t.threshold >= _define_tier.threshold)
           OR (t.rank > _define_tier.rank AND t.threshold <= _define_tier.threshold))
    ORDER BY t.rank LIMIT 1;
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'LY013',
            MESSAGE = format('tier "%s" (rank %s, threshold %s) conflicts with tier "%s"', code, rank, threshold, clash),
            DETAIL = 'Every tier has its own rank, and a higher rank needs a higher threshold.';
    END IF;
    INSERT INTO @extschema@.tier AS t (program_id, code, rank, threshold, discount_pct, earn_multiplier, benefits)
    VALUES (p.program_id, code, rank, threshold, discount_pct, earn_multiplier, benefits)
    ON CONFLICT ON CONSTRAINT tier_pkey DO UPDATE
        SET rank = EXCLUDED.rank, threshold = EXCLUDED.threshold, discount_pct = EXCLUDED.discount_pct,
            earn_multiplier = EXCLUDED.earn_multiplier, benefits = EXCLUDED.benefits,
            defined_at = pg_catalog.clock_timestamp();
    PERFORM @extschema@._settings_changed();   -- ledger writes learn that the programme has tiers
    PERFORM @extschema@._audit(caller, p.program_id, 'define_tier', code,
        jsonb_build_object('rank', rank, 'threshold', threshold, 'discount_pct', discount_pct,
                           'earn_multiplier', earn_multiplier, 'benefits', benefits,
                           'previous', to_jsonb(prev) - 'program_id'));
    RETURN rank;
END
$$;

COMMENT ON FUNCTION @extschema@._define_tier(oid, text, text, int, bigint, numeric, numeric, jsonb) IS 'Internal body of define_tier.';

-- Reading tiers (C: src/tiers.c) ---------------------------------------------------

CREATE FUNCTION @extschema@.tier(member bigint, at timestamptz DEFAULT now())
RETURNS text
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_tier';
COMMENT ON FUNCTION @extschema@.tier(bigint, timestamptz) IS
    'The member''s tier at that instant, from its tier history; NULL below the lowest tier.';

CREATE FUNCTION @extschema@.tier_for(program text, qualifying bigint)
RETURNS text
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_tier_for';
COMMENT ON FUNCTION @extschema@.tier_for(text, bigint) IS
    'The tier a qualifying total reaches (pure computation); NULL below the lowest threshold.';

CREATE FUNCTION @extschema@.tier_benefits(member bigint, at timestamptz DEFAULT now())
RETURNS TABLE(tier text, discount_pct numeric, earn_multiplier numeric, benefits jsonb)
LANGUAGE C STABLE ROWS 1
AS 'MODULE_PATHNAME', 'ly_tier_benefits';
COMMENT ON FUNCTION @extschema@.tier_benefits(bigint, timestamptz) IS
    'The member''s tier at that instant and what it gives; no row below the lowest tier.';

CREATE FUNCTION @extschema@.tier_history(member bigint)
RETURNS TABLE(at timestamptz, from_tier text, to_tier text, qualifying bigint, reason text)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.tier_history(bigint) IS 'Every tier change of a member, oldest first.';

CREATE FUNCTION @extschema@._tier_history(caller oid, member bigint)
RETURNS TABLE(at timestamptz, from_tier text, to_tier text, qualifying bigint, reason text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@._member_exists(member);
    RETURN QUERY SELECT h.at, h.from_tier, h.to_tier, h.qualifying, h.reason
        FROM @extschema@.tier_history h WHERE h.member_id = _tier_history.member
        ORDER BY h.at, h.change_id;
END
$$;

COMMENT ON FUNCTION @extschema@._tier_history(oid, bigint) IS 'Internal body of tier_history.';

CREATE PROCEDURE @extschema@.run_tier_review(as_of timestamptz DEFAULT now(), batch_size int DEFAULT 10000)
LANGUAGE C
AS 'MODULE_PATHNAME', 'ly_run_tier_review';
COMMENT ON PROCEDURE @extschema@.run_tier_review(timestamptz, int) IS
    'Re-evaluate every tiered member as of as_of: downgrade below threshold (never before retain_months), upgrade what qualifies.  Commits per batch; resumable.';
