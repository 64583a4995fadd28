-- group: wallets
-- wallet_baseline: the plain-SQL counterpart of wallet_random.sql, one
-- statement: 2 balance UPDATEs (the two accounts, in ascending id order as
-- loyalty.transfer locks them, so A->B racing B->A cannot deadlock; the
-- second UPDATE runs after the first because it reads it), 1 transfer
-- INSERT (unique key (program_id, ref)), 2 entry INSERTs, on two random
-- distinct accounts among :members (tables: wallet_baseline.setup.sql), 100
-- from account :a to account :b, ref from the sequence bench_ref.
-- Funds checked like loyalty's: the debit may not take an account below zero.
-- That is the CHECK (allow_overdraft OR balance >= 0) on plain.account, not
-- a `WHERE balance >= 100` on the debit UPDATE: with the locks in id order
-- the debit is the second UPDATE when :a > :b, and a WHERE that refused it
-- would leave the first UPDATE's credit booked; a CHECK violation fails the
-- whole statement, as loyalty.transfer's insufficient-funds error does.
-- (Setup funds every account with 10^9, so no debit is refused in a run.)
-- None of the extension's logic: no wallet definition, rules, privilege or
-- replay check, no escrow part choice, one statement instead of one per step.
\set a random(1, :members)
\set b 1 + (:a + random(0, :members - 2)) % :members
\set lo least(:a, :b)
\set hi greatest(:a, :b)
WITH first AS (
    UPDATE plain.account SET balance = balance + CASE WHEN id = :a THEN -100 ELSE 100 END
    WHERE id = :lo
    RETURNING id
), second AS (
    UPDATE plain.account SET balance = balance + CASE WHEN id = :a THEN -100 ELSE 100 END
    WHERE id = :hi AND EXISTS (SELECT FROM first)
    RETURNING id
), x AS (
    INSERT INTO plain.xfer (program_id, ref, kind, debit_account, credit_account, debit_part,
                            credit_part, amount, state, was_pending, posted_amount, at)
    SELECT 1, 'r' || nextval('bench_ref'), 'transfer', :a, :b, 0, 0, 100, 'posted', false, 100, now()
    FROM second
    RETURNING id, at
), debit AS (
    INSERT INTO plain.entry (account_id, at, xfer_id, part, amount)
    SELECT :a, at, id, 0, -100 FROM x
)
INSERT INTO plain.entry (account_id, at, xfer_id, part, amount)
SELECT :b, at, id, 0, 100 FROM x;
