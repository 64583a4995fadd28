-- baseline: wallet_random
-- target_ratio: 0.7 16
-- group: wallets
-- wallet_hot: one loyalty.transfer of 100, kind 'cashback', per transaction
-- from the programme's budget wallet (wallet 3, split into the default 16
-- escrow parts, funded with 10^15 in setup) to a random member's wallet
-- among :members (member m's is wallet m + 3): every transaction debits the
-- same wallet.  Ref from the sequence bench_ref, never repeated.  Its ratio
-- is to wallet_random (the same call on random wallets, same run).  Durable
-- commits.  wallet_hot.check.sql checks the run afterwards.
\set m random(1, :members)
\set cw :m + 3
SELECT loyalty.transfer(3, :cw, 100, 'h' || nextval('bench_ref'), 'cashback');
