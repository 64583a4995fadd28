-- direct_access: the rows loyalty writes by direct table access instead of
-- UPDATE statements (wallet balance rows in transfer(), member rows inside
-- the cached window of earn and spend) keep every index of their table
-- exact.  Thousands of updates of the same few rows in one transaction fill
-- their pages, so that many updates cannot be HOT and need index entries;
-- amcheck then verifies each index against the table (heapallindexed).
CREATE EXTENSION IF NOT EXISTS amcheck;
SELECT loyalty.create_program('dax', 'Direct access', 'CNY') > 0 AS created;
SELECT count(loyalty.enroll('dax', 'm' || g, '2026-01-01')) AS members FROM generate_series(1, 3) g;
SELECT count(loyalty.open_wallet('dax', 'w' || g, 'CNY', loyalty.member('dax', 'm' || g))) AS wallets
FROM generate_series(1, 3) g;
SELECT count(loyalty.fund_wallet(loyalty.find_wallet('dax', 'w' || g), 1000000, 'dax-fund-' || g, '2026-01-02')) AS funded
FROM generate_series(1, 3) g;

-- 3,000 transfers around the three wallets, one transaction: each balance row updated 2,000 times
DO $$
BEGIN
    FOR i IN 1..3000 LOOP
        PERFORM loyalty.transfer(loyalty.find_wallet('dax', 'w' || (1 + i % 3)),
                                 loyalty.find_wallet('dax', 'w' || (1 + (i + 1) % 3)),
                                 i % 7 + 1, 'dax-t' || i, at => '2026-01-03');
    END LOOP;
END
$$;
SELECT w.name, b.posted, b.available
FROM loyalty.wallet w JOIN loyalty.program p USING (program_id),
     loyalty.wallet_balance(w.wallet_id, '2026-01-04') b
WHERE p.code = 'dax' AND w.role = 'member' ORDER BY w.name;
SELECT count(*) AS entries, sum(e.amount) AS net FROM loyalty.wallet_entry e
JOIN loyalty.wallet w USING (wallet_id) JOIN loyalty.program p USING (program_id) WHERE p.code = 'dax';

-- 2,000 earns and 2,000 spends of one member inside its cached window, one transaction
DO $$
DECLARE
    m bigint := loyalty.member('dax', 'm1');
BEGIN
    FOR i IN 1..2000 LOOP
        PERFORM loyalty.earn(m, 10, 'shop', 'dax-e' || i, at => '2026-01-03');
        PERFORM loyalty.spend(m, 5, 'shop', 'dax-s' || i, at => '2026-01-03');
    END LOOP;
END
$$;
SELECT loyalty.points(loyalty.member('dax', 'm1'), '2026-01-04') AS points,
       (SELECT booked FROM loyalty.member WHERE member_id = loyalty.member('dax', 'm1')) AS booked;

-- every index of the tables written directly holds exactly the rows of its table
SELECT c.relname AS index, bt_index_check(c.oid, true) IS NOT NULL AS checked
FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid IN ('loyalty.wallet_part'::regclass, 'loyalty.member'::regclass,
                     'loyalty.wallet_entry'::regclass, 'loyalty.wallet_transfer'::regclass)
ORDER BY 1;
-- and the ledgers agree with the balances
SELECT check_name, ok FROM loyalty.verify('dax') WHERE NOT ok OR check_name LIKE 'wallets: booked%'
   OR check_name LIKE 'points: booked balance equals the sum%';
DROP EXTENSION amcheck;
