-- orders.sql: the application's order tables that the extension watches
-- (SPEC section 8).  track_orders validates a configuration and attaches
-- the C trigger (src/orders.c); order_state records where each order stands
-- on the loyalty side, so every transition is decided against what was
-- recorded, not against the row's old image.  Like the ledger tables,
-- order_state carries no CHECK constraint (each costs every write a parse
-- of its expression); only the trigger writes it, and verify() checks it.

CREATE SEQUENCE @extschema@.tracked_id_seq;

CREATE TABLE @extschema@.tracked_table (
    tracked_id     bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.tracked_id_seq'),
    orders         regclass NOT NULL,          -- dumped by name, so restores re-resolve it
    program_id     bigint NOT NULL REFERENCES @extschema@.program,
    member_column  name NOT NULL,
    amount_column  name NOT NULL,
    status_column  name NOT NULL,
    id_column      name NOT NULL,
    lines_column   name,
    coupon_column  name,
    time_column    name,
    statuses       jsonb NOT NULL,             -- {"paid": ["paid", ...], "completed": [...], ...}
    active         boolean NOT NULL DEFAULT true,
    tracked_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    untracked_at   timestamptz,
    -- One row per table for its whole life: tracking it again reuses the row
    -- (and its tracked_id), so its orders' loyalty state carries over.
    CONSTRAINT tracked_table_orders_key UNIQUE (orders)
);
COMMENT ON TABLE @extschema@.tracked_table IS 'Order tables watched by the loyalty trigger, with their column mapping.';

CREATE TABLE @extschema@.order_state (
    member_id     bigint NOT NULL,
    tracked_id    bigint NOT NULL,
    order_id      text NOT NULL,
    program_id    bigint NOT NULL,
    first_paid_at timestamptz NOT NULL,
    generation    int NOT NULL DEFAULT 1,      -- a new payment after a refund or cancel
    amount        bigint NOT NULL,
    refunded      bigint NOT NULL DEFAULT 0,   -- partial refunds of this generation
    earned        bigint NOT NULL DEFAULT 0,   -- points priced for this generation
    earn_ref      text,                        -- ledger ref of its earn (source 'order')
    lot_id        bigint,                      -- the lot its points sit in
    coupon        text,
    cashback      bigint NOT NULL DEFAULT 0,   -- cashback priced for this generation (order_cashback)
    paid_at       timestamptz NOT NULL,
    closed_at     timestamptz,                 -- refunded, cancelled or deleted
    -- what a completion changes, side by side, and the bulky detail last:
    -- an update logs only the bytes between the first and the last it changes
    state         text NOT NULL,               -- paid completed refunded cancelled deleted
    completed_at  timestamptz,
    updated_at    timestamptz NOT NULL,
    priced        jsonb,                       -- how the points were computed
    PRIMARY KEY (member_id, tracked_id, order_id)
)
-- Every row is updated at least once (completion) and stays in its page
-- only if the page has room: 30% kept free for that makes the update HOT
-- (no new index entries, no search for another page).  At 100% only one
-- completion in fifteen was HOT in the orders benchmark.
WITH (fillfactor = 70);
CREATE INDEX order_state_order ON @extschema@.order_state (tracked_id, order_id);
COMMENT ON TABLE @extschema@.order_state IS 'Where each tracked order stands on the loyalty side: state, generation, amount, refunds, points.';

CREATE TABLE @extschema@.order_refund (
    member_id   bigint NOT NULL,
    tracked_id  bigint NOT NULL,
    order_id    text NOT NULL,
    ref         text NOT NULL,
    generation  int NOT NULL,
    amount      bigint NOT NULL CHECK (amount OPERATOR(pg_catalog.>) 0),
    reversed_total bigint NOT NULL,            -- the order's reversed points after it
    at          timestamptz NOT NULL,
    PRIMARY KEY (member_id, tracked_id, order_id, ref)
);
COMMENT ON TABLE @extschema@.order_refund IS 'Partial refunds recorded by loyalty.refund(), keyed by the application''s refund ref.';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.tracked_table', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.order_state', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.order_refund', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tracked_id_seq', '');

-- The trigger itself (C).  It runs as the extension's owner whoever writes
-- the order table.
CREATE FUNCTION @extschema@._order_trigger()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ly_order_trigger';
COMMENT ON FUNCTION @extschema@._order_trigger() IS 'Internal: the row trigger track_orders attaches to an order table.';

-- A tracked table that is dropped stops being tracked (its orders' loyalty
-- history stays).
CREATE FUNCTION @extschema@._forget_dropped_orders()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE @extschema@.tracked_table t SET active = false, untracked_at = pg_catalog.now()
    FROM pg_catalog.pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = t.orders::oid
      AND d.objsubid = 0 AND t.active;
END
$$;
COMMENT ON FUNCTION @extschema@._forget_dropped_orders() IS 'Internal: mark dropped order tables untracked.';
CREATE EVENT TRIGGER loyalty_forget_dropped_orders ON sql_drop
    EXECUTE FUNCTION @extschema@._forget_dropped_orders();

-- track_orders ----------------------------------------------------------------

-- Raise LY014 (a tracking configuration error).
CREATE FUNCTION @extschema@._bad_tracking(orders regclass, problem text, hint text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LY014',
        MESSAGE = format('cannot track %s: %s', orders, problem),
        HINT = COALESCE(hint, 'See docs/orders.md.');
END
$$;
COMMENT ON FUNCTION @extschema@._bad_tracking(regclass, text, text) IS 'Internal: raise LY014 for a tracking configuration error.';

-- The type of a column of `orders`, checked against the types it may have.
CREATE FUNCTION @extschema@._tracked_column(orders regclass, what text, col name, allowed regtype[],
                                            allow_enum boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t regtype;
BEGIN
    SELECT a.atttypid INTO t FROM pg_attribute a
    WHERE a.attrelid = orders AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        PERFORM @extschema@._bad_tracking(orders, format('%s "%s" does not exist', what, col));
    END IF;
    IF t = ANY (allowed) OR (allow_enum AND EXISTS (SELECT 1 FROM pg_type y WHERE y.oid = t AND y.typtype = 'e')) THEN
        RETURN;
    END IF;
    PERFORM @extschema@._bad_tracking(orders,
        format('%s "%s" has type %s', what, col, t),
        format('It must be one of: %s%s.', array_to_string(allowed, ', '), CASE WHEN allow_enum THEN ', an enum' ELSE '' END));
END
$$;
COMMENT ON FUNCTION @extschema@._tracked_column(regclass, text, name, regtype[], boolean) IS 'Internal: check a tracked column exists and has a usable type.';

CREATE FUNCTION @extschema@.track_orders(orders regclass, program text, member_column name, amount_column name,
    status_column name, id_column name DEFAULT 'id', lines_column name DEFAULT NULL,
    coupon_column name DEFAULT NULL,
    statuses jsonb DEFAULT '{"paid":"paid","completed":"completed","refunded":"refunded","cancelled":"cancelled"}',
    time_column name DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.track_orders(regclass, text, name, name, name, name, name, name, jsonb, name) IS
    'Watch an order table: a trigger prices, completes and reverses its orders'' points in their own transactions.  Returns the tracking id.';

CREATE FUNCTION @extschema@._track_orders(caller oid, orders regclass, program text, member_column name,
    amount_column name, status_column name, id_column name, lines_column name, coupon_column name,
    statuses jsonb, time_column name)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.program;
    rel pg_class;
    k text;
    normal jsonb := '{}';
    seen text[] := '{}';
    v jsonb;
    s text;
    new_id bigint;
    text_types regtype[] := ARRAY['text', 'character varying', 'character']::regtype[];
BEGIN
    PERFORM @extschema@._require(orders, 'orders'), @extschema@._require(member_column, 'member_column'),
            @extschema@._require(amount_column, 'amount_column'), @extschema@._require(status_column, 'status_column'),
            @extschema@._require(id_column, 'id_column'), @extschema@._require(statuses, 'statuses');
    p := @extschema@._program_row(program);
    SELECT * INTO rel FROM pg_class c WHERE c.oid = orders;
    IF rel.relkind NOT IN ('r', 'p') THEN
        PERFORM @extschema@._bad_tracking(orders,
            format('it is a %s, not a table', CASE rel.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                   WHEN 'f' THEN 'foreign table' ELSE format('relation of kind %s', rel.relkind) END),
            'Track the table the application writes its orders to.');
    END IF;
    IF rel.relpersistence = 't' THEN
        PERFORM @extschema@._bad_tracking(orders, 'it is a temporary table',
            'Track the permanent table the application writes its orders to.');
    END IF;
    IF NOT pg_has_role(caller, rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('cannot track %s: must be the owner of the table', orders);
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.tracked_table t WHERE t.orders = _track_orders.orders AND t.active) THEN
        PERFORM @extschema@._bad_tracking(orders, 'it is already tracked',
            'Call loyalty.untrack_orders() first to change its configuration.');
    END IF;
    PERFORM @extschema@._tracked_column(orders, 'member column', member_column,
        text_types || ARRAY['bigint', 'integer', 'uuid']::regtype[]);
    PERFORM @extschema@._tracked_column(orders, 'amount column', amount_column,
        ARRAY['bigint', 'integer', 'smallint']::regtype[]);
    PERFORM @extschema@._tracked_column(orders, 'status column', status_column, text_types, true);
    PERFORM @extschema@._tracked_column(orders, 'id column', id_column,
        text_types || ARRAY['bigint', 'integer', 'uuid']::regtype[]);
    IF lines_column IS NOT NULL THEN
        PERFORM @extschema@._tracked_column(orders, 'lines column', lines_column, ARRAY['jsonb']::regtype[]);
    END IF;
    IF coupon_column IS NOT NULL THEN
        PERFORM @extschema@._tracked_column(orders, 'coupon column', coupon_column,
            text_types || ARRAY['@extschema@.coupon_code']::regtype[]);
    END IF;
    IF time_column IS NOT NULL THEN
        PERFORM @extschema@._tracked_column(orders, 'time column', time_column,
            ARRAY['timestamp with time zone']::regtype[]);
    END IF;
    IF p.settings ->> 'member_ids' = 'application' THEN
        PERFORM @extschema@._tracked_column(orders, 'member column', member_column,
            ARRAY['bigint', 'integer']::regtype[]);
    END IF;

    -- statuses: {"paid": "paid" or ["paid", "shipped"], ...}; each status maps once
    IF jsonb_typeof(statuses) <> 'object' THEN
        PERFORM @extschema@._bad_tracking(orders, format('statuses must be a JSON object, got %s', jsonb_typeof(statuses)));
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(statuses) LOOP
        IF k <> ALL (ARRAY['paid', 'completed', 'refunded', 'cancelled']) THEN
            PERFORM @extschema@._bad_tracking(orders, format('statuses key "%s" is unknown', k),
                'The keys are paid, completed, refunded and cancelled; their values are the table''s own statuses.');
        END IF;
        IF jsonb_typeof(v) = 'string' THEN
            v := jsonb_build_array(v);
        END IF;
        IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) = 0
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
            PERFORM @extschema@._bad_tracking(orders,
                format('statuses key "%s" must name a status or an array of statuses', k));
        END IF;
        FOR s IN SELECT jsonb_array_elements_text(v) LOOP
            IF s = ANY (seen) THEN
                PERFORM @extschema@._bad_tracking(orders, format('status "%s" is mapped twice', s));
            END IF;
            seen := seen || s;
        END LOOP;
        normal := normal || jsonb_build_object(k, v);
    END LOOP;

    IF EXISTS (SELECT 1 FROM @extschema@.tracked_table t WHERE t.orders = _track_orders.orders
               AND t.program_id <> p.program_id) THEN
        PERFORM @extschema@._bad_tracking(orders, 'it was tracked for another programme',
            'Its orders'' loyalty history belongs to that programme.');
    END IF;
    INSERT INTO @extschema@.tracked_table AS t (orders, program_id, member_column, amount_column, status_column,
        id_column, lines_column, coupon_column, time_column, statuses)
    VALUES (orders, p.program_id, member_column, amount_column, status_column, id_column, lines_column,
        coupon_column, time_column, normal)
    ON CONFLICT ON CONSTRAINT tracked_table_orders_key DO UPDATE SET member_column = EXCLUDED.member_column,
        amount_column = EXCLUDED.amount_column, status_column = EXCLUDED.status_column,
        id_column = EXCLUDED.id_column, lines_column = EXCLUDED.lines_column,
        coupon_column = EXCLUDED.coupon_column, time_column = EXCLUDED.time_column,
        statuses = EXCLUDED.statuses, active = true, tracked_at = pg_catalog.now(), untracked_at = NULL
    RETURNING tracked_id INTO new_id;
    -- the relation name comes from the catalog (regclass output is quoted)
    EXECUTE format('CREATE TRIGGER loyalty_track_orders AFTER INSERT OR UPDATE OR DELETE ON %s'
                   ' FOR EACH ROW EXECUTE FUNCTION @extschema@._order_trigger()', orders);
    PERFORM @extschema@._audit(caller, p.program_id, 'track_orders', orders::text,
        jsonb_build_object('tracked_id', new_id, 'member_column', member_column, 'amount_column', amount_column,
            'status_column', status_column, 'id_column', id_column, 'lines_column', lines_column,
            'coupon_column', coupon_column, 'time_column', time_column, 'statuses', normal));
    RETURN new_id;
END
$$;

COMMENT ON FUNCTION @extschema@._track_orders(oid, regclass, text, name, name, name, name, name, name, jsonb, name) IS 'Internal body of track_orders.';

CREATE FUNCTION @extschema@.untrack_orders(orders regclass)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.untrack_orders(regclass) IS
    'Stop watching an order table (its orders'' loyalty history stays).';

CREATE FUNCTION @extschema@._untrack_orders(caller oid, orders regclass)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t @extschema@.tracked_table;
BEGIN
    PERFORM @extschema@._require(orders, 'orders');
    SELECT * INTO t FROM @extschema@.tracked_table tt WHERE tt.orders = _untrack_orders.orders AND tt.active FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LY014', MESSAGE = format('%s is not tracked', orders);
    END IF;
    PERFORM @extschema@._require_program(t.program_id);
    IF NOT pg_has_role(caller, (SELECT c.relowner FROM pg_class c WHERE c.oid = orders), 'USAGE') THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('cannot untrack %s: must be the owner of the table', orders);
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS loyalty_track_orders ON %s', orders);
    UPDATE @extschema@.tracked_table SET active = false, untracked_at = pg_catalog.now()
    WHERE tracked_id = t.tracked_id;
    PERFORM @extschema@._audit(caller, t.program_id, 'untrack_orders', orders::text,
        jsonb_build_object('tracked_id', t.tracked_id));
END
$$;

COMMENT ON FUNCTION @extschema@._untrack_orders(oid, regclass) IS 'Internal body of untrack_orders.';

CREATE FUNCTION @extschema@.refund(orders regclass, order_id text, amount bigint, ref text,
                                   at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_refund';
COMMENT ON FUNCTION @extschema@.refund(regclass, text, bigint, text, timestamptz) IS
    'Record a partial refund of a tracked order (keyed by the refund''s ref): reverses E - floor(E x (A - R) / A) of the E points it earned.  Returns the points reversed in total.';
