-- The plain-SQL counterpart of spend.sql: the same row writes with no logic,
-- in one statement: the member's balance UPDATE, the lot UPDATE (its lot id
-- is known: no lookup, no ordering, no check) and the ledger INSERT, on tables
-- shaped like loyalty's (plain_schema.psql), on a random member.
\set member random(1, :members)
\set ref random(1, 9000000000000000000)
WITH m AS (
    UPDATE plain.member SET balance = balance - 1, last_entry_at = now()
    WHERE member_id = :member
    RETURNING member_id
), l AS (
    UPDATE plain.lot SET remaining = remaining - 1
    WHERE member_id = :member AND lot_id = :member
    RETURNING member_id, lot_id
)
INSERT INTO plain.ledger (member_id, entry_id, at, operation, points, source, ref,
                          lots, lot_points)
SELECT l.member_id, nextval('plain.entry_id_seq'), now(), 'spend', -1, 'bench', :ref,
       ARRAY[l.lot_id], ARRAY[-1::bigint]
FROM m, l;
