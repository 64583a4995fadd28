-- baseline: baseline_spend
-- spend: one loyalty.spend of 1 point per transaction on a random member among
-- :members (each holds 1,000,000 points from setup), with a fresh ref.
\set member random(1, :members)
\set ref random(1, 9000000000000000000)
SELECT loyalty.spend(:member, 1, 'bench', :ref);
