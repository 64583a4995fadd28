-- wallet_baseline.check.sql: run after the last round (run_bench.sh) with
-- psql variables :members and :transactions (what pgbench reported for the
-- workload over all its runs).  Fails unless the plain double entry stayed
-- whole: every account's balance equals the sum of its entries, all
-- balances sum to zero, no account without overdraft is below zero, one
-- transfer of 100 with its two entries per pgbench transaction, and the
-- members' accounts still hold :member_funds each in all.
\if :{?member_funds}
\else
\set member_funds 1000000000
\endif
SELECT set_config('bench.members', :'members', false),
       set_config('bench.transactions', :'transactions', false),
       set_config('bench.member_funds', :'member_funds', false) \gset

DO $$
DECLARE
    members bigint := current_setting('bench.members')::bigint;
    transactions bigint := current_setting('bench.transactions')::bigint;
    member_funds bigint := current_setting('bench.member_funds')::bigint;
    bad bigint;
    n bigint;
    total numeric;
BEGIN
    SELECT count(*) INTO bad
    FROM plain.account a
    LEFT JOIN (SELECT account_id, sum(amount) AS s FROM plain.entry GROUP BY account_id) e ON e.account_id = a.id
    WHERE a.balance <> COALESCE(e.s, 0) OR (NOT a.allow_overdraft AND a.balance < 0);
    IF bad > 0 THEN
        RAISE EXCEPTION 'bench check: % accounts differ from their entries or are overdrawn', bad;
    END IF;
    SELECT sum(balance) INTO total FROM plain.account;
    IF total <> 0 THEN
        RAISE EXCEPTION 'bench check: the balances sum to %, not 0', total;
    END IF;
    SELECT count(*) INTO bad
    FROM plain.xfer x
    FULL JOIN (SELECT e1.xfer_id, count(*) AS c, sum(e1.amount) AS s,
                      bool_or(e1.account_id = x2.debit_account AND e1.amount = -x2.amount)
                      AND bool_or(e1.account_id = x2.credit_account AND e1.amount = x2.amount) AS matched
               FROM plain.entry e1 JOIN plain.xfer x2 ON x2.id = e1.xfer_id
               GROUP BY e1.xfer_id) e ON e.xfer_id = x.id
    WHERE x.id IS NULL OR e.xfer_id IS NULL OR e.c <> 2 OR e.s <> 0 OR NOT e.matched;
    IF bad > 0 OR (SELECT count(*) FROM plain.entry) <> 2 * (SELECT count(*) FROM plain.xfer) THEN
        RAISE EXCEPTION 'bench check: % transfers do not have exactly one debit and one credit entry', bad;
    END IF;
    SELECT count(*) INTO n FROM plain.xfer WHERE kind = 'transfer';
    RAISE NOTICE 'bench check: % transfers, pgbench reported % transactions', n, transactions;
    IF n <> transactions THEN
        RAISE EXCEPTION 'bench check: % transfers but pgbench reported % transactions', n, transactions;
    END IF;
    SELECT count(*) INTO bad FROM plain.xfer
    WHERE kind = 'transfer' AND (amount <> 100 OR debit_account = credit_account
                                 OR debit_account NOT BETWEEN 1 AND members
                                 OR credit_account NOT BETWEEN 1 AND members);
    IF bad > 0 THEN
        RAISE EXCEPTION 'bench check: % transfers are not 100 between two member accounts', bad;
    END IF;
    SELECT sum(balance) INTO total FROM plain.account WHERE id BETWEEN 1 AND members;
    IF total <> members * member_funds THEN
        RAISE EXCEPTION 'bench check: the member accounts hold % in all, expected %', total, members * member_funds;
    END IF;
    RAISE NOTICE 'bench check: ok';
END
$$;
