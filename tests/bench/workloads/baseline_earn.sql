-- The plain-SQL counterpart of earn.sql: the same row writes with no logic,
-- in one statement: the member's balance UPDATE, the lot INSERT and the
-- ledger INSERT (unique key (member, operation, source, ref)), on tables
-- shaped like loyalty's (plain_schema.psql), on a random member.
\set member random(1, :members)
\set ref random(1, 9000000000000000000)
WITH m AS (
    UPDATE plain.member SET balance = balance + 10, last_entry_at = now()
    WHERE member_id = :member
    RETURNING member_id
), l AS (
    INSERT INTO plain.lot (member_id, lot_id, points, remaining, created_at, available_at,
                           expires_at, qualifying_from)
    SELECT member_id, nextval('plain.entry_id_seq'), 10, 10, now(), now(),
           now() + interval '365 days', now()
    FROM m
    RETURNING member_id, lot_id
)
INSERT INTO plain.ledger (member_id, entry_id, at, operation, points, source, ref,
                          qualifying, lots, lot_points)
SELECT member_id, nextval('plain.entry_id_seq'), now(), 'earn', 10, 'bench', :ref,
       true, ARRAY[lot_id], ARRAY[10::bigint]
FROM l;
