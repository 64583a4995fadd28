-- points.sql: the points API (C, src/points.c) and the member's history.

CREATE FUNCTION @extschema@.earn(member bigint, points bigint, source text, ref text,
                                 expires_at timestamptz DEFAULT NULL,
                                 available_at timestamptz DEFAULT NULL,
                                 at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_earn';
COMMENT ON FUNCTION @extschema@.earn(bigint, bigint, text, text, timestamptz, timestamptz, timestamptz) IS
    'Credit points in a new lot; idempotent on (member, earn, source, ref); returns the ledger entry id.';

CREATE FUNCTION @extschema@.spend(member bigint, points bigint, source text, ref text,
                                  at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_spend';
COMMENT ON FUNCTION @extschema@.spend(bigint, bigint, text, text, timestamptz) IS
    'Debit available points, soonest-expiring lots first; idempotent on (member, spend, source, ref).';

CREATE FUNCTION @extschema@.reverse(member bigint, source text, ref text, points bigint DEFAULT NULL,
                                    at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_reverse';
COMMENT ON FUNCTION @extschema@.reverse(bigint, text, text, bigint, timestamptz) IS
    'Undo the earn and/or spend with this (source, ref): points is the cumulative total to stand reversed (NULL: all).';

CREATE FUNCTION @extschema@.adjust(member bigint, delta bigint, reason text, ref text,
                                   at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_adjust';
COMMENT ON FUNCTION @extschema@.adjust(bigint, bigint, text, text, timestamptz) IS
    'Administrative correction of a member''s points (audited); idempotent on (member, adjust, reason, ref).';

CREATE FUNCTION @extschema@.transfer_points(from_member bigint, to_member bigint, points bigint, ref text,
                                            at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_transfer_points';
COMMENT ON FUNCTION @extschema@.transfer_points(bigint, bigint, bigint, text, timestamptz) IS
    'Move points between two members of one programme, keeping their expiry; idempotent on (from_member, ref).';

CREATE FUNCTION @extschema@.points(member bigint, at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_points';
COMMENT ON FUNCTION @extschema@.points(bigint, timestamptz) IS
    'Effective balance: points available and unexpired at that instant, after any debt.';

CREATE FUNCTION @extschema@.balance(member bigint, at timestamptz DEFAULT now())
RETURNS TABLE(available bigint, pending bigint, expiring_30d bigint,
              lifetime_earned bigint, tier_points bigint, debt bigint)
LANGUAGE C STABLE ROWS 1
AS 'MODULE_PATHNAME', 'ly_balance';
COMMENT ON FUNCTION @extschema@.balance(bigint, timestamptz) IS
    'A member''s balance figures at an instant, replayed from the ledger.';

CREATE FUNCTION @extschema@.history(member bigint, since timestamptz DEFAULT NULL, max_rows int DEFAULT 100)
RETURNS TABLE(entry bigint, at timestamptz, operation text, points bigint, source text, ref text, detail jsonb)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.history(bigint, timestamptz, int) IS
    'A member''s ledger entries, newest first.';

CREATE FUNCTION @extschema@._history(caller oid, member bigint, since timestamptz, max_rows int)
RETURNS TABLE(entry bigint, at timestamptz, operation text, points bigint, source text, ref text, detail jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@._member_exists(member), @extschema@._require(max_rows, 'max_rows');
    IF max_rows < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('max_rows must be positive, got %s', max_rows);
    END IF;
    RETURN QUERY
    SELECT e.entry_id, e.at, e.operation, e.points, e.source, e.ref,
           jsonb_strip_nulls(COALESCE(e.detail, '{}') || jsonb_build_object(
               'reverses', e.reverses, 'covers', e.covers, 'counterparty', e.counterparty,
               'debt_delta', NULLIF(e.debt_delta, 0),
               'lots', (SELECT jsonb_object_agg(u.lot_id::text, u.moved)
                        FROM unnest(e.lots, e.lot_points) AS u(lot_id, moved))))
    FROM @extschema@.points_entry e
    WHERE e.member_id = _history.member AND (_history.since IS NULL OR e.at >= _history.since)
    ORDER BY e.at DESC, e.entry_id DESC
    LIMIT _history.max_rows;
END
$$;
COMMENT ON FUNCTION @extschema@._history(oid, bigint, timestamptz, int) IS 'Internal body of history.';
