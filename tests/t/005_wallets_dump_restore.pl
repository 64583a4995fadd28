# 005_wallets_dump_restore.pl: the marketing wallets survive pg_dump /
# pg_restore and a server crash (SPEC section 10; docs/wallets.md, "verify,
# audit and backup").
#
# Part 1: a programme with members' wallets and a budget wallet split into 4
# escrow parts, funded (the money lands in the reserve) and then moved into
# several parts by gifts to members of different parts; a second, nearly
# empty budget.  Transfers posted and pending: a hold left pending, a hold
# with a pending_timeout that has timed out and is not booked yet (history
# shows it "expired"), a hold posted in part and a voided one.  Wallet debt:
# a tracked order table and a cashback rule {"on": "order",
# "cashback_percent": 2, "from_wallet": "budget"}; the order completes, the
# member spends the cashback, the order is cancelled.  Cashback shortfalls
# from the empty budget (one open, one resolved by the cancel).  grant_wallet
# grants to a role.  Rewards with stock and a cancelled redemption.
# pg_dump -Fc, pg_restore into a fresh database.  Then in both databases:
#   - the wallet tables have the same rows, every sequence of the schema
#     stands at the same value;
#   - every wallet's wallet_balance at fixed instants, every wallet's
#     wallet_history, the debts, the rows of cashback_shortfalls and the
#     rewards' stock are identical; verify() is all ok;
#   - the same later operations give the same results: posting the pending
#     hold; a new transfer takes the next id after the restored ones (the
#     sequence continues from the same position) and pays the wallet's debt
#     first; posting the timed-out hold is refused (LY025); transfers and a
#     funding with a ref already used return their first ids and move
#     nothing; a debit that books the timed-out hold lazily; the granted role
#     may still debit the budget (a role without the grant may not); the last
#     unit of a reward is redeemed and the next is refused.  Afterwards the
#     wallet tables, balances, histories and sequences are identical again.
#
# Part 2: with synchronous_commit on, transfers committed before an
# immediate stop (a crash: recovery replays WAL) are all there after the
# restart, with the same balances and parts, and the transfers, funding and
# hold post of a transaction left open in another session leave nothing (its
# refs are free again); verify() is ok and wallets work after the restart.
#
# The roles (ly5_promo, ly5_nogrant) are cluster objects: pg_dump of a
# database does not carry them, the restore is into the same cluster.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('ly5_wallets');
$node->init;
$node->append_conf('postgresql.conf', qq{
synchronous_commit = on
TimeZone = 'UTC'
});
$node->start;

my $verify_sql = q{
    SELECT CASE WHEN bool_and(ok) THEN 'ok' ELSE string_agg(check_name || ': ' || detail, '; ')
           FILTER (WHERE NOT ok) END
    FROM loyalty.verify()};

# SQLSTATE of a statement, or 'ok' (a session-local helper).
my $try_fn = q{
    CREATE FUNCTION pg_temp.ly5_try(q text) RETURNS text LANGUAGE plpgsql AS $$
    BEGIN
        EXECUTE q;
        RETURN 'ok';
    EXCEPTION WHEN OTHERS THEN
        RETURN SQLSTATE;
    END $$;
};

# Count and md5 of the sorted rows of the tables wallets, cashback and the
# mall keep.
my @fp_tables = qw(wallet wallet_part wallet_transfer wallet_entry wallet_debt wallet_grant
  order_cashback cashback_shortfalls reward reward_redemption);
sub fingerprint
{
    my ($db) = @_;
    my %fp;
    for my $t (@fp_tables)
    {
        $fp{$t} = $node->safe_psql($db, qq{
            SELECT count(*) || ' ' || COALESCE(md5(string_agg(t::text, ',' ORDER BY t::text)), '-')
            FROM loyalty."$t" t});
    }
    return \%fp;
}

# Every wallet's balance at fixed instants: before and after the gifts, while
# the 30-minute hold holds (11:10) and after it timed out (11:45), while the
# partly posted hold is pending (12:15), around the cashback, and later
# (February: part 2's transfers).
my $balances_sql = q{
    SELECT string_agg(format('%s %s: %s', w.wallet_id, w.name, x.figures), E'\n' ORDER BY w.wallet_id)
    FROM loyalty.wallet w
    CROSS JOIN LATERAL (
        SELECT string_agg(format('%s=%s/%s/%s/%s', to_char(t, 'MM-DD HH24:MI'), b.posted, b.pending_debits,
                                 b.pending_credits, b.available), ' ' ORDER BY t) AS figures
        FROM unnest(ARRAY['2026-01-02 12:00+00', '2026-01-03 10:00+00', '2026-01-04 11:10+00',
                          '2026-01-04 11:45+00', '2026-01-04 12:15+00', '2026-01-05 13:30+00',
                          '2026-01-06 10:00+00', '2026-01-09 10:30+00', '2026-02-01 00:00+00',
                          '2026-02-03 11:15+00', '2026-03-01 00:00+00']::timestamptz[]) t
        CROSS JOIN LATERAL loyalty.wallet_balance(w.wallet_id, t) b) x};

# Every wallet's whole history.
my $histories_sql = q{
    SELECT string_agg(format('%s %s:%s', w.wallet_id, w.name, x.h), E'\n' ORDER BY w.wallet_id)
    FROM loyalty.wallet w
    CROSS JOIN LATERAL (
        SELECT COALESCE(string_agg(format(' [%s %s %s %s %s %s %s]', h.transfer, h.at, h.kind, h.amount,
                                          h.counterparty, h.state, h.ref), ''), ' -') AS h
        FROM loyalty.wallet_history(w.wallet_id, NULL, 1000) h) x};

my $shortfalls_sql = q{
    SELECT string_agg(to_jsonb(s)::text, E'\n' ORDER BY s.order_id, s.rule_code) FROM loyalty.cashback_shortfalls s};
my $stock_sql = q{
    SELECT string_agg(format('%s: stock=%s redeemed=%s left=%s', sku, stock, redeemed, stock - redeemed), ', '
                      ORDER BY sku)
    FROM loyalty.reward};
my $debts_sql = q{
    SELECT COALESCE(string_agg(format('%s owes %s: %s since %s', wallet_id, creditor, amount, since), ', '
                               ORDER BY wallet_id, creditor), '-')
    FROM loyalty.wallet_debt};
my $sequences_sql = q{
    SELECT string_agg(format('%s=%s', sequencename, COALESCE(last_value, 0)), ', ' ORDER BY sequencename)
    FROM pg_sequences WHERE schemaname = 'loyalty'};
my $points_sql = q{
    SELECT string_agg(format('%s=%s', external_id, loyalty.points(member_id, '2026-02-01 00:00+00')), ' '
                      ORDER BY external_id)
    FROM loyalty.member};

# ===========================================================================
# Part 1: dump and restore of a database with wallets
# ===========================================================================
my $src = 'ly5_src';
my $dst = 'ly5_dst';
$node->safe_psql('postgres', q{
    CREATE ROLE ly5_promo;
    CREATE ROLE ly5_nogrant;
});
$node->safe_psql('postgres', "CREATE DATABASE $src");
$node->safe_psql($src, 'CREATE EXTENSION loyalty');
$node->safe_psql($src, q{
    GRANT loyalty_app TO ly5_promo, ly5_nogrant;
    SELECT loyalty.create_program('ly5w', 'Ly5 wallets', 'CNY', '{"timezone": "UTC"}');
    SELECT loyalty.enroll('ly5w', 'm' || i, '2026-01-01 00:00+00') FROM generate_series(1, 5) i;
    SELECT loyalty.open_wallet('ly5w', 'budget', 'CNY', rules => '{"escrow_parts": 4}');
    SELECT loyalty.open_wallet('ly5w', 'lean', 'CNY', rules => '{"escrow_parts": 2}');
    SELECT loyalty.open_wallet('ly5w', 'w-m' || i, 'CNY', loyalty.member('ly5w', 'm' || i))
    FROM generate_series(1, 4) i;
    SELECT loyalty.fund_wallet(loyalty.find_wallet('ly5w', 'budget'), 1000000, 'fund-budget', '2026-01-02 09:00+00');
    SELECT loyalty.fund_wallet(loyalty.find_wallet('ly5w', 'lean'), 100, 'fund-lean', '2026-01-02 09:00+00');
});
my %w = map { split /\|/ } split /\n/, $node->safe_psql($src, q{SELECT name, wallet_id FROM loyalty.wallet});
is(join(' ', map { "$_=$w{$_}" } sort keys %w),
    'budget=3 external:CNY=1 lean=4 revenue:CNY=2 w-m1=5 w-m2=6 w-m3=7 w-m4=8',
    'source: the external and revenue wallets, two budgets and four members\' wallets');
is($node->safe_psql($src, qq{SELECT string_agg(part || '=' || posted, ' ' ORDER BY part)
                             FROM loyalty.wallet_part WHERE wallet_id = $w{budget}}),
    '0=1000000 1=0 2=0 3=0 4=0', 'source: the funding of the budget went to its reserve (part 0)');

# One gift per transaction: each picks the part of its member (1 + id mod 4)
# and refills it from the reserve.
for my $i (1 .. 4)
{
    $node->safe_psql($src, qq{
        SELECT loyalty.transfer($w{budget}, $w{"w-m$i"}, 5000 + $i, 'gift-$i', 'gift', at => '2026-01-03 10:00+00')});
}
my $budget_parts = $node->safe_psql($src, qq{
    SELECT count(*) FILTER (WHERE part > 0 AND posted > 0) || '/' || count(*) FILTER (WHERE part > 0)
    FROM loyalty.wallet_part WHERE wallet_id = $w{budget}});
is($budget_parts, '4/4', 'source: the gifts moved money from the reserve into each of the 4 escrow parts');
is($node->safe_psql($src, qq{
        SELECT string_agg(DISTINCT debit_part::text, ',') FROM loyalty.wallet_transfer
        WHERE debit_wallet = $w{budget} AND kind = 'gift'}),
    '1,2,3,4', 'source: the four gifts debited four different parts');

my ($t_hold, $t_timeout, $t_part, $t_void) = split /\n/, $node->safe_psql($src, qq{
    SELECT loyalty.transfer($w{'w-m2'}, $w{'revenue:CNY'}, 1200, 'SO-hold', 'checkout', pending => true,
                            at => '2026-01-04 10:00+00');
    SELECT loyalty.transfer($w{'w-m3'}, $w{'revenue:CNY'}, 900, 'SO-timeout', 'checkout', pending => true,
                            pending_timeout => '30 minutes', at => '2026-01-04 11:00+00');
    SELECT loyalty.transfer($w{'w-m4'}, $w{'revenue:CNY'}, 2000, 'SO-part', 'checkout', pending => true,
                            at => '2026-01-04 12:00+00');
    SELECT loyalty.transfer($w{budget}, $w{'w-m1'}, 700, 'gift-void', 'gift', pending => true,
                            at => '2026-01-04 13:00+00');
});
is($node->safe_psql($src, qq{SELECT loyalty.post_transfer($t_part, 1500, '2026-01-04 12:30+00')}), '1500',
    'source: the hold SO-part posted in part (1500 of 2000)');
$node->safe_psql($src, qq{
    SELECT loyalty.void_transfer($t_void, '2026-01-04 13:05+00');
    SELECT loyalty.transfer($w{'w-m1'}, $w{'w-m2'}, 300, 'p2p-1', 'p2p', at => '2026-01-04 14:00+00');
    SELECT loyalty.grant_wallet($w{budget}, 'ly5_promo', 'debit');
    SELECT loyalty.grant_wallet($w{budget}, 'ly5_promo', 'view');
});

# Cashback, its reversal after the member spent it (debt), shortfalls.
$node->safe_psql($src, q{
    SELECT loyalty.define_earn_rule('ly5w', 'cb2', '{"on": "order", "cashback_percent": 2, "from_wallet": "budget"}');
    SELECT loyalty.define_earn_rule('ly5w', 'lean5', '{"on": "order", "cashback_percent": 5, "from_wallet": "lean"}');
    CREATE TABLE ly5_orders (id bigint PRIMARY KEY, customer text, total bigint, status text NOT NULL,
                             at timestamptz NOT NULL);
    SELECT loyalty.track_orders('ly5_orders', 'ly5w', 'customer', 'total', 'status', time_column => 'at');
    INSERT INTO ly5_orders VALUES (101, 'm5', 100000, 'paid', '2026-01-05 10:00+00');
    UPDATE ly5_orders SET status = 'completed', at = '2026-01-05 12:00+00' WHERE id = 101;
    INSERT INTO ly5_orders VALUES (102, 'm1', 20000, 'completed', '2026-01-05 13:00+00');
});
$w{m5} = $node->safe_psql($src, q{SELECT loyalty.find_wallet('ly5w', 'member:5:CNY')});
is($w{m5}, '9', 'source: the first cashback opened member m5\'s wallet member:5:CNY');
is($node->safe_psql($src, qq{SELECT posted FROM loyalty.wallet_balance($w{m5}, '2026-01-05 12:00+00')}), '2000',
    'source: m5 got 2% of 1000.00 in cashback');
# m5 spends it (a ref that is not the order's: it is not returned on cancel)
$node->safe_psql($src, qq{
    SELECT loyalty.transfer($w{m5}, $w{'revenue:CNY'}, 1500, 'SO-m5', 'checkout', at => '2026-01-05 14:00+00');
    UPDATE ly5_orders SET status = 'cancelled', at = '2026-01-06 10:00+00' WHERE id = 101;
});
is($node->safe_psql($src, $debts_sql), "$w{m5} owes $w{budget}: 1500 since 2026-01-06 10:00:00+00",
    'source: order 101 cancelled after m5 spent 1500 of its cashback: 1500 wallet debt to the budget');
is($node->safe_psql($src, q{
        SELECT string_agg(format('%s %s %s/%s/%s', order_id, reason, amount, resolution, resolved_at IS NULL), ', '
                          ORDER BY order_id)
        FROM loyalty.cashback_shortfalls}),
    '101 insufficient_funds 5000/order_reversed/f, 102 insufficient_funds 1000//t',
    'source: the lean budget could not pay: a shortfall resolved by the cancel, and an open one');

# The mall: points, two rewards, a cancelled redemption.
my $rd2 = (split /\n/, $node->safe_psql($src, q{
    SELECT loyalty.earn(loyalty.member('ly5w', 'm' || i), 1000, 'promo', 'pts-' || i, NULL, NULL,
                        '2026-01-02 00:00+00') FROM generate_series(1, 5) i;
    SELECT loyalty.add_reward('ly5w', 'mug', 'Mug', 100, 2);
    SELECT loyalty.add_reward('ly5w', 'pen', 'Pen', 30, NULL);
    SELECT loyalty.redeem_reward(loyalty.member('ly5w', 'm1'), 'mug', 1, 'rd-1', '2026-01-07 10:00+00');
    SELECT loyalty.redeem_reward(loyalty.member('ly5w', 'm2'), 'pen', 3, 'rd-3', '2026-01-07 11:00+00');
    SELECT loyalty.redeem_reward(loyalty.member('ly5w', 'm2'), 'mug', 1, 'rd-2', '2026-01-07 11:00+00');
}))[-1];
$node->safe_psql($src, qq{SELECT loyalty.cancel_redemption($rd2, '2026-01-08 10:00+00')});
is($node->safe_psql($src, $stock_sql), 'mug: stock=2 redeemed=1 left=1, pen: stock= redeemed=3 left=',
    'source: a mug redeemed and one cancelled (1 left); 3 pens of unlimited stock');

# The source has every kind of row the test is about.
is($node->safe_psql($src, q{
        SELECT string_agg(format('%s%s%s', state, CASE WHEN pending_until IS NOT NULL THEN '+timeout' ELSE '' END,
                                 CASE WHEN state = 'posted' AND posted_amount < amount THEN '+partial' ELSE '' END),
                          ',' ORDER BY transfer_id)
        FROM loyalty.wallet_transfer WHERE was_pending}),
    'pending,pending+timeout,posted+partial,voided', 'source: holds pending, timed out, partly posted and voided');
is($node->safe_psql($src, q{
        SELECT string_agg(DISTINCT kind, ',') FROM loyalty.wallet_transfer}),
    'cashback,cashback_reversal,checkout,fund,gift,p2p', 'source: transfers of every kind used');
is($node->safe_psql($src, qq{SELECT state FROM loyalty.wallet_history($w{'w-m3'}) WHERE ref = 'SO-timeout'}),
    'expired', 'source: the timed-out hold is not booked yet: history shows it expired');
is($node->safe_psql($src, q{SELECT count(*) FROM loyalty.wallet_grant WHERE role_name = 'ly5_promo'}), '2',
    'source: ly5_promo granted debit and view on the budget');
is($node->safe_psql($src, q{SELECT count(*) FROM loyalty.reward_redemption WHERE state = 'cancelled'}), '1',
    'source: one cancelled redemption');
is($node->safe_psql($src, $verify_sql), 'ok', 'verify() ok in the source');

my $src_fp = fingerprint($src);
my $src_balances = $node->safe_psql($src, $balances_sql);
my $src_histories = $node->safe_psql($src, $histories_sql);
my $src_shortfalls = $node->safe_psql($src, $shortfalls_sql);
my $src_stock = $node->safe_psql($src, $stock_sql);
my $src_debts = $node->safe_psql($src, $debts_sql);
my $src_sequences = $node->safe_psql($src, $sequences_sql);
my $src_points = $node->safe_psql($src, $points_sql);
my $src_member_wallets = $node->safe_psql($src, q{
    SELECT string_agg(format('%s: %s', m.external_id, x.w), ', ' ORDER BY m.external_id)
    FROM loyalty.member m CROSS JOIN LATERAL (
        SELECT string_agg(format('%s/%s/%s', wallet, name, debt), ';') AS w FROM loyalty.member_wallets(m.member_id)) x});
my $max_transfer = $node->safe_psql($src, q{SELECT max(transfer_id) FROM loyalty.wallet_transfer});
like($src_sequences, qr/transfer_id_seq=$max_transfer,/, "source: transfer_id_seq stands at $max_transfer");
like($src_balances, qr/^6 w-m2: .* 01-04 11:10=5002\/1200\/0\/3802 /m,
    'source: wallet_balance counts the pending hold of w-m2');
like($src_balances, qr/^7 w-m3: .* 01-04 11:10=5003\/900\/0\/4103 01-04 11:45=5003\/0\/0\/5003 /m,
    'source: wallet_balance counts the 30-minute hold at 11:10 and not at 11:45');

my $dump = $node->basedir . '/ly5_wallets.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr($src) ], 'pg_dump -Fc of the source');
$node->safe_psql('postgres', "CREATE DATABASE $dst");
is($node->safe_psql($dst, q{SELECT count(*) FROM pg_extension WHERE extname = 'loyalty'}), '0',
    'the fresh database has no loyalty extension before the restore');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr($dst), $dump ],
    'pg_restore into the fresh database');

# --- the restored database answers as the source -----------------------------
my $dst_fp = fingerprint($dst);
for my $t (@fp_tables)
{
    is($dst_fp->{$t}, $src_fp->{$t}, "loyalty.$t identical after restore ($src_fp->{$t})");
}
is($node->safe_psql($dst, $sequences_sql), $src_sequences, 'every sequence of the schema restored at its position');
is($node->safe_psql($dst, $balances_sql), $src_balances, 'wallet_balance of every wallet at every instant: identical');
is($node->safe_psql($dst, $histories_sql), $src_histories, 'wallet_history of every wallet: identical');
is($node->safe_psql($dst, $debts_sql), $src_debts, "wallet debt identical ($src_debts)");
is($node->safe_psql($dst, q{
        SELECT string_agg(format('%s: %s', m.external_id, x.w), ', ' ORDER BY m.external_id)
        FROM loyalty.member m CROSS JOIN LATERAL (
            SELECT string_agg(format('%s/%s/%s', wallet, name, debt), ';') AS w FROM loyalty.member_wallets(m.member_id)) x}),
    $src_member_wallets, 'member_wallets of every member, with their debt: identical');
is($node->safe_psql($dst, $shortfalls_sql), $src_shortfalls, 'the rows of cashback_shortfalls: identical');
is($node->safe_psql($dst, $stock_sql), $src_stock, 'the rewards\' stock: identical');
is($node->safe_psql($dst, $points_sql), $src_points, 'every member\'s points: identical');
is($node->safe_psql($dst, $verify_sql), 'ok', 'verify() ok after restore');

# --- the same later operations in both databases -----------------------------
my %r;    # db => { step => result }
for my $db ($src, $dst)
{
    my $counts_sql = q{SELECT (SELECT count(*) FROM loyalty.wallet_transfer) || '/'
                           || (SELECT count(*) FROM loyalty.wallet_entry)};
    $r{$db}{post_hold} = $node->safe_psql($db, qq{SELECT loyalty.post_transfer($t_hold, NULL, '2026-01-09 10:00+00')});
    # a new transfer into the indebted wallet: repays the debt first
    $r{$db}{new_transfer} = $node->safe_psql($db, qq{
        SELECT loyalty.transfer($w{budget}, $w{m5}, 1000, 'gift-5', 'gift', at => '2026-01-09 10:20+00')});
    $r{$db}{repayment} = $node->safe_psql($db, qq{
        SELECT string_agg(format('%s %s %s %s', transfer_id, kind, amount, ref), ', ' ORDER BY transfer_id)
        FROM loyalty.wallet_transfer WHERE transfer_id > $max_transfer});
    $r{$db}{debts} = $node->safe_psql($db, $debts_sql);
    $r{$db}{post_timeout} = $node->safe_psql($db, $try_fn
          . qq{SELECT pg_temp.ly5_try(\$q\$SELECT loyalty.post_transfer($t_timeout, NULL, '2026-01-09 10:00+00')\$q\$)});
    # (a replay takes a value of transfer_id_seq, as the failed calls may:
    # the new transfer above comes first so that its id is the next one)
    my $before = $node->safe_psql($db, $counts_sql);
    $r{$db}{replay} = $node->safe_psql($db, qq{
        SELECT loyalty.transfer($w{'w-m1'}, $w{'w-m2'}, 300, 'p2p-1', 'p2p', at => '2026-01-09 10:10+00');
        SELECT loyalty.transfer($w{budget}, $w{'w-m1'}, 5001, 'gift-1', 'gift', at => '2026-01-09 10:10+00');
        SELECT loyalty.fund_wallet($w{budget}, 1000000, 'fund-budget', '2026-01-09 10:10+00');
    });
    $r{$db}{replay_moved} = $node->safe_psql($db, $counts_sql) eq $before ? 'nothing' : 'something';
    # all of w-m3's 5003: the debit books the timed-out hold on the way
    $r{$db}{lazy} = $node->safe_psql($db, qq{
        SELECT loyalty.transfer($w{'w-m3'}, $w{'revenue:CNY'}, 5003, 'SO-m3', 'checkout', at => '2026-01-09 10:25+00');
        SELECT state || ' ' || closed_at FROM loyalty.wallet_transfer WHERE transfer_id = $t_timeout;
    });
    # the grant to ly5_promo still lets it debit the budget; ly5_nogrant may not
    $r{$db}{granted} = $node->safe_psql($db, $try_fn . qq{
        SET ROLE ly5_promo;
        SELECT pg_temp.ly5_try(\$q\$SELECT loyalty.transfer($w{budget}, $w{'w-m4'}, 250, 'promo-1', 'gift',
                                                              at => '2026-01-09 10:30+00')\$q\$);
        SELECT posted FROM loyalty.wallet_balance($w{'w-m4'}, '2026-01-09 10:30+00');
        SET ROLE ly5_nogrant;
        SELECT pg_temp.ly5_try(\$q\$SELECT loyalty.transfer($w{budget}, $w{'w-m4'}, 250, 'promo-2', 'gift',
                                                              at => '2026-01-09 10:30+00')\$q\$);
        RESET ROLE;
    });
    # the last mug, then none left
    $r{$db}{redeem_last} = $node->safe_psql($db, q{
        SELECT loyalty.redeem_reward(loyalty.member('ly5w', 'm3'), 'mug', 1, 'rd-4', '2026-01-09 11:00+00')});
    $r{$db}{redeem_none} = $node->safe_psql($db, $try_fn . q{
        SELECT pg_temp.ly5_try($q$SELECT loyalty.redeem_reward(loyalty.member('ly5w', 'm4'), 'mug', 1, 'rd-5',
                                                                '2026-01-09 11:00+00')$q$)});
}

my $next = $max_transfer + 1;
is($r{$src}{post_hold}, '1200', 'source: the pending hold SO-hold posts 1200');
is($r{$dst}{post_hold}, $r{$src}{post_hold}, 'restored: posting the pending hold gives the same');
is($r{$src}{post_timeout}, 'LY025', 'source: posting the timed-out hold is refused (LY025)');
is($r{$dst}{post_timeout}, $r{$src}{post_timeout}, 'restored: posting the timed-out hold is refused the same way');
is($r{$src}{replay}, "11\n3\n1", 'source: transfers with used refs (p2p-1, gift-1, fund-budget) return their ids');
is($r{$dst}{replay}, $r{$src}{replay}, 'restored: the same refs return the same transfer ids');
is($r{$dst}{replay_moved}, 'nothing', 'restored: the replays moved nothing');
is($r{$src}{replay_moved}, 'nothing', 'source: the replays moved nothing');
is($r{$src}{new_transfer}, "$next", "source: the new transfer takes id $next");
is($r{$dst}{new_transfer}, "$next", "restored: the new transfer takes id $next too (the sequence continues)");
is($r{$src}{repayment}, "$next gift 1000 gift-5, " . ($next + 1) . " debt_repayment 1000 loyalty:debt:$next:$w{budget}",
    'source: the new credit repays 1000 of the debt at once');
is($r{$dst}{repayment}, $r{$src}{repayment}, 'restored: the same transfers, ids and debt repayment');
is($r{$src}{debts}, "$w{m5} owes $w{budget}: 500 since 2026-01-06 10:00:00+00", 'source: 500 of the debt left');
is($r{$dst}{debts}, $r{$src}{debts}, 'restored: the same debt left');
like($r{$src}{lazy}, qr/^\d+\nvoided 2026-01-04 11:30:00\+00$/,
    'source: the debit of all w-m3 has booked the timed-out hold voided at its timeout');
is($r{$dst}{lazy}, $r{$src}{lazy}, 'restored: the same transfer id and the same lazy booking');
is($r{$src}{granted}, "ok\n3754\n42501", 'source: ly5_promo debits the budget (granted), ly5_nogrant gets 42501');
is($r{$dst}{granted}, $r{$src}{granted}, 'restored: the grant still lets ly5_promo debit the budget, and only it');
like($r{$src}{redeem_last}, qr/^\d+$/, 'source: m3 redeems the last mug');
is($r{$dst}{redeem_last}, $r{$src}{redeem_last}, 'restored: the last mug gets the same redemption id');
is($r{$src}{redeem_none}, 'LY027', 'source: no mug left (LY027)');
is($r{$dst}{redeem_none}, $r{$src}{redeem_none}, 'restored: no mug left either');

is($node->safe_psql($src, $stock_sql), 'mug: stock=2 redeemed=2 left=0, pen: stock= redeemed=3 left=',
    'source: the mugs are sold out');
is($node->safe_psql($dst, $stock_sql), $node->safe_psql($src, $stock_sql), 'restored: the same stock');
my $src_fp2 = fingerprint($src);
my $dst_fp2 = fingerprint($dst);
for my $t (@fp_tables)
{
    is($dst_fp2->{$t}, $src_fp2->{$t}, "after the same operations: loyalty.$t identical in both");
}
is($node->safe_psql($dst, $balances_sql), $node->safe_psql($src, $balances_sql),
    'after the same operations: every wallet\'s balances identical');
is($node->safe_psql($dst, $histories_sql), $node->safe_psql($src, $histories_sql),
    'after the same operations: every wallet\'s history identical');
is($node->safe_psql($dst, $sequences_sql), $node->safe_psql($src, $sequences_sql),
    'after the same operations: the sequences stand at the same values');
is($node->safe_psql($src, $verify_sql), 'ok', 'verify() ok in the source after the operations');
is($node->safe_psql($dst, $verify_sql), 'ok', 'verify() ok in the restored database after the operations');

# ===========================================================================
# Part 2: crash with committed and open transfers
# ===========================================================================
my $cdb = 'ly5_crash';
$node->safe_psql('postgres', "CREATE DATABASE $cdb");
is($node->safe_psql($cdb, 'SHOW synchronous_commit'), 'on', 'synchronous_commit is on');
$node->safe_psql($cdb, q{
    CREATE EXTENSION loyalty;
    SELECT loyalty.create_program('ly5c', 'Ly5 crash', 'CNY', '{"timezone": "UTC"}');
    SELECT loyalty.enroll('ly5c', 'k' || i, '2026-02-01 00:00+00') FROM generate_series(1, 6) i;
    SELECT loyalty.open_wallet('ly5c', 'budget', 'CNY', rules => '{"escrow_parts": 4}');
    SELECT loyalty.open_wallet('ly5c', 'k' || i, 'CNY', loyalty.member('ly5c', 'k' || i)) FROM generate_series(1, 6) i;
    SELECT loyalty.fund_wallet(loyalty.find_wallet('ly5c', 'budget'), 500000, 'c-fund', '2026-02-01 09:00+00');
});
my %cw = map { split /\|/ } split /\n/, $node->safe_psql($cdb, q{SELECT name, wallet_id FROM loyalty.wallet});
# committed: one gift per transaction, a transaction of several, a hold and its post
for my $i (1 .. 6)
{
    $node->safe_psql($cdb, qq{
        SELECT loyalty.transfer($cw{budget}, $cw{"k$i"}, 1000 * $i, 'c-gift-$i', 'gift', at => '2026-02-02 10:00+00')});
}
$node->safe_psql($cdb, qq{
    BEGIN;
    SELECT loyalty.transfer($cw{k1}, $cw{'revenue:CNY'}, 400, 'c-so-1', 'checkout', at => '2026-02-03 10:00+00');
    SELECT loyalty.transfer($cw{k2}, $cw{k3}, 500, 'c-p2p-1', 'p2p', at => '2026-02-03 10:00+00');
    SELECT loyalty.transfer($cw{budget}, $cw{k4}, 700, 'c-gift-7', 'gift', at => '2026-02-03 10:00+00');
    COMMIT;
});
my $c_hold = $node->safe_psql($cdb, qq{
    SELECT loyalty.transfer($cw{k5}, $cw{'revenue:CNY'}, 2500, 'c-so-2', 'checkout', pending => true,
                            at => '2026-02-03 11:00+00')});
my $c_hold2 = $node->safe_psql($cdb, qq{
    SELECT loyalty.transfer($cw{k6}, $cw{'revenue:CNY'}, 3000, 'c-so-3', 'checkout', pending => true,
                            at => '2026-02-03 11:00+00')});
$node->safe_psql($cdb, qq{SELECT loyalty.post_transfer($c_hold, 2000, '2026-02-03 11:30+00')});

my $crash_fp = fingerprint($cdb);
my $crash_balances = $node->safe_psql($cdb, $balances_sql);
my $crash_refs_sql = q{
    SELECT string_agg(format('%s:%s:%s', ref, state, COALESCE(posted_amount, 0)), ' ' ORDER BY transfer_id)
    FROM loyalty.wallet_transfer};
my $crash_refs = $node->safe_psql($cdb, $crash_refs_sql);
is($crash_refs,
    'c-fund:posted:500000 c-gift-1:posted:1000 c-gift-2:posted:2000 c-gift-3:posted:3000 c-gift-4:posted:4000 '
      . 'c-gift-5:posted:5000 c-gift-6:posted:6000 c-so-1:posted:400 c-p2p-1:posted:500 c-gift-7:posted:700 '
      . 'c-so-2:posted:2000 c-so-3:pending:0',
    'before the crash: 11 committed transfers and a hold committed pending');
is($node->safe_psql($cdb, $verify_sql), 'ok', 'verify() ok before the crash');

# A transaction left open: transfers out of the budget and between members,
# a funding, and the post of the committed hold.
my $bg = $node->background_psql($cdb);
$bg->query_safe('BEGIN');
$bg->query_safe(qq{SELECT loyalty.transfer($cw{budget}, $cw{k1}, 4321, 'ghost-1', 'gift', at => '2026-02-04 10:00+00')});
$bg->query_safe(qq{SELECT loyalty.transfer($cw{k2}, $cw{k1}, 100, 'ghost-2', 'p2p', at => '2026-02-04 10:00+00')});
$bg->query_safe(qq{SELECT loyalty.fund_wallet($cw{budget}, 77777, 'ghost-fund', '2026-02-04 10:00+00')});
$bg->query_safe(qq{SELECT loyalty.post_transfer($c_hold2, NULL, '2026-02-04 10:00+00')});
is($bg->query_safe(q{SELECT count(*) FROM loyalty.wallet_transfer WHERE ref LIKE 'ghost-%'}), '3',
    'in flight: the open transaction sees its three transfers');
is($node->safe_psql($cdb, qq{
        SELECT (SELECT count(*) FROM loyalty.wallet_transfer WHERE ref LIKE 'ghost-%') || '/'
            || (SELECT state FROM loyalty.wallet_transfer WHERE transfer_id = $c_hold2)}),
    '0/pending', 'in flight: other sessions see none of it');

my $log_offset = -s $node->logfile;
$node->stop('immediate');
eval { $bg->quit; };    # its server is gone
$node->start;
ok($node->log_contains(qr/database system was not properly shut down; automatic recovery in progress/, $log_offset),
    'the restart recovered from a crash (WAL replay)');

is($node->safe_psql($cdb, $verify_sql), 'ok', 'verify() ok after crash recovery');
is($node->safe_psql($cdb, $crash_refs_sql), $crash_refs,
    'after the crash: every committed transfer is there, the hold still pending, no open one');
my $crash_fp2 = fingerprint($cdb);
for my $t (qw(wallet wallet_part wallet_transfer wallet_entry wallet_debt))
{
    is($crash_fp2->{$t}, $crash_fp->{$t}, "after the crash: loyalty.$t as committed before it");
}
is($node->safe_psql($cdb, $balances_sql), $crash_balances,
    'after the crash: every wallet\'s balances as committed (nothing of the open transaction)');
# the wallets work: the open transaction's refs are free, the committed ones replay
is($node->safe_psql($cdb, $try_fn . qq{
        SELECT pg_temp.ly5_try(\$q\$SELECT loyalty.transfer($cw{budget}, $cw{k1}, 4321, 'c-gift-1', 'gift',
                                                              at => '2026-02-05 10:00+00')\$q\$)}),
    'LY005', 'after the crash: c-gift-1 with another amount is an idempotency conflict (LY005)');
is($node->safe_psql($cdb, qq{
        SELECT loyalty.transfer($cw{budget}, $cw{k1}, 1000, 'c-gift-1', 'gift', at => '2026-02-05 10:00+00')
             = (SELECT transfer_id FROM loyalty.wallet_transfer WHERE ref = 'c-gift-1')}),
    't', 'after the crash: c-gift-1 replays its committed transfer');
is($node->safe_psql($cdb, qq{
        SELECT loyalty.transfer($cw{budget}, $cw{k1}, 4321, 'ghost-1', 'gift', at => '2026-02-05 10:00+00') > 0;
        SELECT loyalty.post_transfer($c_hold2, NULL, '2026-02-05 10:00+00');
        SELECT posted FROM loyalty.wallet_balance($cw{k1}, '2026-02-06 00:00+00');
    }),
    "t\n3000\n4921", 'after the crash: ghost-1 is a new transfer, the hold posts, k1 has 1000 - 400 + 4321');
is($node->safe_psql($cdb, $verify_sql), 'ok', 'verify() ok after writes following the restart');

$node->stop;
done_testing();
