-- rewards.sql: the points mall (SPEC section 8).  A reward is bought with
-- points: redeem_reward spends them through the C ledger (loyalty.spend,
-- keyed by the redemption's ref) and takes stock under the reward's row
-- lock, so stock never oversells; cancel_redemption gives the points back
-- (loyalty.reverse) and restocks.  Never cash.
--
-- Lock order: the reward row, then the member (inside spend / reverse).

CREATE SEQUENCE @extschema@.reward_id_seq;
CREATE SEQUENCE @extschema@.redemption_id_seq;

CREATE TABLE @extschema@.reward (
    reward_id    bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.reward_id_seq'),
    program_id   bigint NOT NULL REFERENCES @extschema@.program,
    sku          text NOT NULL CHECK (sku OPERATOR(pg_catalog.<>) ''),
    name         text NOT NULL,
    points_cost  bigint NOT NULL CHECK (points_cost OPERATOR(pg_catalog.>) 0),
    -- units ever put on sale (NULL: unlimited); what is left is stock - redeemed
    stock        bigint CHECK (stock OPERATOR(pg_catalog.>=) 0),
    redeemed     bigint NOT NULL DEFAULT 0,   -- units taken by redemptions not cancelled
    min_tier     text,
    defined_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    UNIQUE (program_id, sku)
);
COMMENT ON TABLE @extschema@.reward IS 'The points mall: what members can buy with points, with its stock.';

CREATE TABLE @extschema@.reward_redemption (
    member_id     bigint NOT NULL,
    redemption_id bigint NOT NULL DEFAULT pg_catalog.nextval('@extschema@.redemption_id_seq'),
    reward_id     bigint NOT NULL,
    program_id    bigint NOT NULL,
    qty           int NOT NULL,
    points        bigint NOT NULL,
    ref           text NOT NULL,
    state         text NOT NULL DEFAULT 'redeemed',   -- redeemed, cancelled
    at            timestamptz NOT NULL,
    cancelled_at  timestamptz,
    PRIMARY KEY (member_id, redemption_id),
    UNIQUE (member_id, ref)
);
CREATE UNIQUE INDEX reward_redemption_id ON @extschema@.reward_redemption (redemption_id);
COMMENT ON TABLE @extschema@.reward_redemption IS 'Rewards bought with points; idempotent on (member, ref).';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.reward', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.reward_redemption', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.reward_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.redemption_id_seq', '');

-- The mall's own way into the C ledger: spend and reverse with source
-- 'reward', which the public functions refuse (src/points.c).  Owner only.
CREATE FUNCTION @extschema@._reward_spend(member bigint, points bigint, source text, ref text, at timestamptz)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_spend';
COMMENT ON FUNCTION @extschema@._reward_spend(bigint, bigint, text, text, timestamptz) IS 'Internal: spend for a redemption (source reward).';

CREATE FUNCTION @extschema@._reward_reverse(member bigint, source text, ref text, points bigint, at timestamptz)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_reverse';
COMMENT ON FUNCTION @extschema@._reward_reverse(bigint, text, text, bigint, timestamptz) IS 'Internal: give a cancelled redemption''s points back.';

CREATE FUNCTION @extschema@.add_reward(program text, sku text, name text, points_cost bigint,
                                       stock int DEFAULT NULL, min_tier text DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.add_reward(text, text, text, bigint, int, text) IS
    'Put a reward in the points mall (or redefine the sku): stock is the units left to sell (NULL: unlimited); audited.';

CREATE FUNCTION @extschema@._add_reward(caller oid, program text, sku text, name text, points_cost bigint,
                                        stock int, min_tier text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.program := @extschema@._program_row(program);
    r @extschema@.reward;
BEGIN
    IF NOT @extschema@._is_admin(caller) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'permission denied for add_reward', HINT = 'Grant the role loyalty_admin.';
    END IF;
    PERFORM @extschema@._require(sku, 'sku'), @extschema@._require(name, 'name'),
            @extschema@._require(points_cost, 'points_cost'), @extschema@._require_code(sku, 'reward sku');
    IF points_cost <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('points_cost must be positive, got %s', points_cost);
    END IF;
    IF stock < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('stock must not be negative, got %s', stock),
            HINT = 'Pass NULL for an unlimited reward.';
    END IF;
    IF min_tier IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.tier t
                                            WHERE t.program_id = p.program_id AND t.code = min_tier) THEN
        RAISE EXCEPTION USING ERRCODE = 'LY013',
            MESSAGE = format('reward "%s": min_tier "%s" is not a tier of programme "%s"', sku, min_tier, program),
            HINT = 'Define the tier with loyalty.define_tier() first.';
    END IF;
    SELECT * INTO r FROM @extschema@.reward x WHERE x.program_id = p.program_id AND x.sku = _add_reward.sku FOR UPDATE;
    IF FOUND THEN
        UPDATE @extschema@.reward x SET name = _add_reward.name, points_cost = _add_reward.points_cost,
            stock = x.redeemed + _add_reward.stock, min_tier = _add_reward.min_tier,
            defined_at = pg_catalog.clock_timestamp()
        WHERE x.reward_id = r.reward_id;
    ELSE
        INSERT INTO @extschema@.reward (program_id, sku, name, points_cost, stock, min_tier)
        VALUES (p.program_id, sku, name, points_cost, stock, min_tier)
        RETURNING * INTO r;
    END IF;
    PERFORM @extschema@._audit(caller, p.program_id, 'add_reward', sku,
        jsonb_build_object('reward', r.reward_id, 'name', name, 'points_cost', points_cost,
                           'stock', stock, 'min_tier', min_tier));
    RETURN r.reward_id;
END
$$;
COMMENT ON FUNCTION @extschema@._add_reward(oid, text, text, text, bigint, int, text) IS 'Internal body of add_reward.';

-- The redemption a retry of (member, ref) returns; NULL if none; LY005 if it differs.
CREATE FUNCTION @extschema@._redemption_replay(member bigint, ref text, sku text, qty int)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    done_id bigint;
    done_qty int;
    done_sku text;
BEGIN
    SELECT d.redemption_id, d.qty, x.sku INTO done_id, done_qty, done_sku
    FROM @extschema@.reward_redemption d JOIN @extschema@.reward x USING (reward_id)
    WHERE d.member_id = _redemption_replay.member AND d.ref = _redemption_replay.ref;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF done_sku <> sku THEN
        RAISE EXCEPTION USING ERRCODE = 'LY005',
            MESSAGE = format('redemption ref "%s" was already used with a different sku', ref),
            DETAIL = format('Redemption %s is of sku "%s"; this call has "%s".', done_id, done_sku, sku);
    END IF;
    IF done_qty <> qty THEN
        RAISE EXCEPTION USING ERRCODE = 'LY005',
            MESSAGE = format('redemption ref "%s" was already used with a different qty', ref),
            DETAIL = format('Redemption %s has qty %s; this call has %s.', done_id, done_qty, qty);
    END IF;
    RETURN done_id;
END
$$;
COMMENT ON FUNCTION @extschema@._redemption_replay(bigint, text, text, int) IS 'Internal: the redemption a retry returns, or LY005.';

CREATE FUNCTION @extschema@.redeem_reward(member bigint, sku text, qty int, ref text, at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.redeem_reward(bigint, text, int, text, timestamptz) IS
    'Buy qty of a reward with points: checks min_tier and stock, spends the points; idempotent on (member, ref); returns the redemption id.';

CREATE FUNCTION @extschema@._redeem_reward(caller oid, member bigint, sku text, qty int, ref text, at timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m_program bigint;
    r @extschema@.reward;
    cost bigint;
    have_rank int;
    need_rank int;
    id bigint;
BEGIN
    PERFORM @extschema@._member_exists(member), @extschema@._require(sku, 'sku'), @extschema@._require(qty, 'qty'),
            @extschema@._require_instant(at);
    IF ref IS NULL OR ref = '' THEN
        RAISE EXCEPTION USING ERRCODE = CASE WHEN ref IS NULL THEN 'null_value_not_allowed' ELSE 'invalid_parameter_value' END,
            MESSAGE = 'ref must not be NULL or empty';
    END IF;
    IF qty <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = format('qty must be positive, got %s', qty);
    END IF;
    SELECT m.program_id INTO m_program FROM @extschema@.member m WHERE m.member_id = _redeem_reward.member;

    -- a retry returns the first redemption (checked again under the reward's lock)
    id := @extschema@._redemption_replay(member, ref, sku, qty);
    IF id IS NOT NULL THEN
        RETURN id;
    END IF;
    SELECT * INTO r FROM @extschema@.reward x WHERE x.program_id = m_program AND x.sku = _redeem_reward.sku FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LY028',
            MESSAGE = format('reward "%s" does not exist in the member''s programme', sku),
            HINT = 'Add it with loyalty.add_reward().';
    END IF;
    id := @extschema@._redemption_replay(member, ref, sku, qty);
    IF id IS NOT NULL THEN
        RETURN id;
    END IF;
    IF r.min_tier IS NOT NULL THEN
        SELECT t.rank INTO need_rank FROM @extschema@.tier t WHERE t.program_id = m_program AND t.code = r.min_tier;
        SELECT t.rank INTO have_rank FROM @extschema@.tier t
        WHERE t.program_id = m_program AND t.code = @extschema@.tier(member, at);
        IF have_rank IS NULL OR have_rank < need_rank THEN
            RAISE EXCEPTION USING ERRCODE = 'LY029',
                MESSAGE = format('reward "%s" needs tier "%s"; member %s is %s', sku, r.min_tier, member,
                                 COALESCE('in tier "' || @extschema@.tier(member, at) || '"', 'in no tier'));
        END IF;
    END IF;
    IF r.stock IS NOT NULL AND r.redeemed + qty > r.stock THEN
        RAISE EXCEPTION USING ERRCODE = 'LY027',
            MESSAGE = format('reward "%s" is out of stock: %s left, %s requested', sku, r.stock - r.redeemed, qty);
    END IF;
    IF r.points_cost > 9223372036854775807 / qty THEN
        RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
            MESSAGE = format('%s x reward "%s" would cost more points than a bigint holds', qty, sku);
    END IF;
    cost := r.points_cost * qty;
    PERFORM @extschema@._reward_spend(member, cost, 'reward', ref, at);
    INSERT INTO @extschema@.reward_redemption (member_id, reward_id, program_id, qty, points, ref, at)
    VALUES (member, r.reward_id, m_program, qty, cost, ref, at)
    RETURNING redemption_id INTO id;
    UPDATE @extschema@.reward x SET redeemed = x.redeemed + qty WHERE x.reward_id = r.reward_id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@._redeem_reward(oid, bigint, text, int, text, timestamptz) IS 'Internal body of redeem_reward.';

CREATE FUNCTION @extschema@.cancel_redemption(redemption bigint, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.cancel_redemption(bigint, timestamptz) IS
    'Cancel a redemption: the reward is restocked and its points are returned (never cash).';

CREATE FUNCTION @extschema@._cancel_redemption(caller oid, redemption bigint, at timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d @extschema@.reward_redemption;
BEGIN
    PERFORM @extschema@._require(redemption, 'redemption'), @extschema@._require_instant(at);
    SELECT * INTO d FROM @extschema@.reward_redemption x WHERE x.redemption_id = redemption;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LY030', MESSAGE = format('redemption %s does not exist', redemption);
    END IF;
    PERFORM @extschema@._require_program(d.program_id);
    -- the reward row first, as redeem_reward locks it
    PERFORM 1 FROM @extschema@.reward x WHERE x.reward_id = d.reward_id FOR UPDATE;
    SELECT * INTO d FROM @extschema@.reward_redemption x WHERE x.redemption_id = redemption FOR UPDATE;
    IF d.state <> 'redeemed' THEN
        RAISE EXCEPTION USING ERRCODE = 'LY030',
            MESSAGE = format('redemption %s is already cancelled (at %s)', redemption, d.cancelled_at);
    END IF;
    IF at < d.at THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('redemption %s cannot be cancelled at %s, before it was made (%s)', redemption, at, d.at);
    END IF;
    PERFORM @extschema@._reward_reverse(d.member_id, 'reward', d.ref, NULL, at);
    UPDATE @extschema@.reward_redemption x SET state = 'cancelled', cancelled_at = _cancel_redemption.at
    WHERE x.member_id = d.member_id AND x.redemption_id = d.redemption_id;
    UPDATE @extschema@.reward x SET redeemed = x.redeemed - d.qty WHERE x.reward_id = d.reward_id;
END
$$;
COMMENT ON FUNCTION @extschema@._cancel_redemption(oid, bigint, timestamptz) IS 'Internal body of cancel_redemption.';
