# 004_orders_dump_restore.pl: a tracked application order table survives
# pg_dump / pg_restore and a server crash, and can be re-tracked
# (docs/orders.md, "Dump and restore" and "untrack_orders").
#
# Part 1: a programme with tiers and earning rules tracks shop.orders (with a
# time column); orders in every state (paid, completed, completed with a
# partial refund, refunded, cancelled; a guest and an unmapped one ignored).
# pg_dump -Fc, pg_restore into a fresh database (CREATE EXTENSION comes from
# the dump).  After restore: tracked_table.orders names shop.orders again
# (the regclass is re-resolved to the new table), the trigger
# loyalty_track_orders is on it, it did not fire while the data was loaded
# (loyalty's tables are identical to the source's), verify() is ok, and the
# same later writes (complete a paid order, cancel a completed one, refunds,
# a new order) give the same ledger in both databases; a refund repeated
# with its earlier ref returns its first result and books nothing.
#
# Part 2: with synchronous_commit on, committed order transactions (insert
# paid + update completed) survive an immediate stop (crash) with their
# order_state and their earn and release entries; an order insert, and an
# order completion, open in another session at the crash leave nothing.
#
# Part 3: untrack_orders then track_orders again keeps the tracking id, and
# an order paid before untracking completes afterwards with one release and
# no second earn (also from a session that had used the trigger before).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('ly4_orders');
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
    CREATE FUNCTION pg_temp.ly4_try(q text) RETURNS text LANGUAGE plpgsql AS $$
    BEGIN
        EXECUTE q;
        RETURN 'ok';
    EXCEPTION WHEN OTHERS THEN
        RETURN SQLSTATE;
    END $$;
};

# Count and md5 of the sorted rows of the loyalty tables orders touch.
# $drop lists columns left out (those filled with now() at write time).
my @fp_tables = qw(points_entry points_lot order_state order_refund tier_history member tracked_table);
sub fingerprint
{
    my ($db, @drop) = @_;
    my $minus = join('', map { " - '$_'" } @drop);
    my %fp;
    for my $t (@fp_tables)
    {
        $fp{$t} = $node->safe_psql($db, qq{
            SELECT count(*) || ' ' || COALESCE(md5(string_agg(x, ',' ORDER BY x)), '-')
            FROM (SELECT (to_jsonb(t)$minus)::text AS x FROM loyalty."$t" t) s});
    }
    return \%fp;
}

# Every member's figures at several instants.
my $members_sql = q{
    SELECT string_agg(format('%s/%s tier=%s: %s', p.code, m.external_id, m.tier, x.figures), E'\n'
                      ORDER BY p.code, m.external_id)
    FROM loyalty.member m JOIN loyalty.program p USING (program_id)
    CROSS JOIN LATERAL (
        SELECT string_agg(format('points=%s available=%s pending=%s lifetime=%s tier_points=%s debt=%s',
                                 loyalty.points(m.member_id, t), b.available, b.pending,
                                 b.lifetime_earned, b.tier_points, b.debt), '; ' ORDER BY t) AS figures
        FROM unnest(ARRAY['2026-01-20 00:00+08', '2026-02-20 00:00+08', '2026-03-01 00:00+08',
                          '2027-06-01 00:00+08']::timestamptz[]) t
        CROSS JOIN LATERAL loyalty.balance(m.member_id, t) b) x};

my $states_sql = q{
    SELECT string_agg(format('%s:%s/g%s/a%s/r%s/e%s', order_id, state, generation, amount, refunded, earned),
                      ' ' ORDER BY order_id::int)
    FROM loyalty.order_state};

# ===========================================================================
# Part 1: dump and restore of a database with a tracked order table
# ===========================================================================
my $src = 'ly4_src';
my $dst = 'ly4_dst';
$node->safe_psql('postgres', "CREATE DATABASE $src");
$node->safe_psql($src, 'CREATE EXTENSION loyalty');

$node->safe_psql($src, q{
    SELECT loyalty.create_program('ly4shop', 'Ly4 shop', 'CNY',
        '{"timezone": "Asia/Shanghai", "pending_days": 7, "points_expire_months": 12}');
    SELECT loyalty.define_earn_rule('ly4shop', 'base', '{"on": "order", "per_amount": 100, "points": 1}');
    SELECT loyalty.define_earn_rule('ly4shop', 'books2x',
        '{"on": "order", "multiplier": 2, "when": {"categories": ["books"]}}');
    SELECT loyalty.define_tier('ly4shop', 'silver', 1, 500, discount_pct => 2, earn_multiplier => 1.5);
    SELECT loyalty.define_tier('ly4shop', 'gold', 2, 5000, discount_pct => 5, earn_multiplier => 2);
    CREATE SCHEMA shop;
    CREATE TABLE shop.orders (
        id         bigint PRIMARY KEY,
        customer   text,
        total      bigint,
        status     text NOT NULL,
        lines      jsonb,
        updated_at timestamptz NOT NULL
    );
});
my $tracked_id = $node->safe_psql($src, q{
    SELECT loyalty.track_orders('shop.orders', 'ly4shop',
        member_column => 'customer', amount_column => 'total', status_column => 'status',
        lines_column => 'lines', time_column => 'updated_at',
        statuses => '{"paid": ["paid", "shipped"], "completed": "completed",
                      "refunded": "refunded", "cancelled": "cancelled"}')});
like($tracked_id, qr/^\d+$/, "shop.orders tracked (id $tracked_id)");

$node->safe_psql($src, q{
    -- 1: c1 paid then completed: 600 points, lifts c1 to silver
    INSERT INTO shop.orders VALUES (1, 'c1', 60000, 'paid', NULL, '2026-01-05 10:00+08');
    UPDATE shop.orders SET status = 'shipped', updated_at = '2026-01-05 18:00+08' WHERE id = 1;
    UPDATE shop.orders SET status = 'completed', updated_at = '2026-01-06 10:00+08' WHERE id = 1;
    -- 2: c1 paid as silver (x1.5): 300 pending; stays paid
    INSERT INTO shop.orders VALUES (2, 'c1', 20000, 'paid', NULL, '2026-01-07 10:00+08');
    -- 3: c2 with cart lines (books doubled): 500 points, completed
    INSERT INTO shop.orders VALUES (3, 'c2', 30000, 'paid',
        '[{"sku": "b1", "category": "books", "price": 10000, "qty": 2},
          {"sku": "t1", "category": "toys", "price": 10000}]', '2026-01-08 10:00+08');
    UPDATE shop.orders SET status = 'completed', updated_at = '2026-01-09 10:00+08' WHERE id = 3;
    -- 4: c3 completed at once (100 points), partial refund below
    INSERT INTO shop.orders VALUES (4, 'c3', 10000, 'completed', NULL, '2026-01-10 10:00+08');
    -- 5: c4 paid then refunded
    INSERT INTO shop.orders VALUES (5, 'c4', 8000, 'paid', NULL, '2026-01-11 10:00+08');
    UPDATE shop.orders SET status = 'refunded', updated_at = '2026-01-12 10:00+08' WHERE id = 5;
    -- 6: c5 paid then cancelled
    INSERT INTO shop.orders VALUES (6, 'c5', 5000, 'paid', NULL, '2026-01-13 10:00+08');
    UPDATE shop.orders SET status = 'cancelled', updated_at = '2026-01-14 10:00+08' WHERE id = 6;
    -- ignored: a guest checkout and an unmapped status
    INSERT INTO shop.orders VALUES (9, NULL, 7000, 'paid', NULL, '2026-01-15 10:00+08');
    INSERT INTO shop.orders VALUES (10, 'c6', 7000, 'awaiting_payment', NULL, '2026-01-15 10:00+08');
    -- c2 spends 100 points on order 3 (given back if order 3 is cancelled)
    SELECT loyalty.spend(loyalty.member('ly4shop', 'c2'), 100, 'shop', '3', '2026-01-20 10:00+08');
});
# A paid order written with triggers off: loyalty has no record of it, so
# the trigger would record it (and enrol c8) if it fired during the restore.
$node->safe_psql($src, q{
    SET session_replication_role = replica;
    INSERT INTO shop.orders VALUES (12, 'c8', 9000, 'paid', NULL, '2026-01-21 10:00+08');
});
is($node->safe_psql($src, q{
        SELECT (SELECT count(*) FROM loyalty.order_state WHERE order_id = '12') || '/'
            || (SELECT count(*) FROM loyalty.member WHERE external_id = 'c8')}),
    '0/0', 'source: order 12, written with triggers off, is unknown to loyalty');
my $rf4a = $node->safe_psql($src,
    q{SELECT loyalty.refund('shop.orders', '4', 2500, 'RF-4a', '2026-01-12 10:00+08')});
is($rf4a, '25', 'partial refund RF-4a of order 4 reverses 100 - floor(100 x 7500 / 10000) = 25 points');

is($node->safe_psql($src, $states_sql),
    '1:completed/g1/a60000/r0/e600 2:paid/g1/a20000/r0/e300 3:completed/g1/a30000/r0/e500 '
      . '4:completed/g1/a10000/r2500/e100 5:refunded/g1/a8000/r0/e80 6:cancelled/g1/a5000/r0/e50',
    'source: orders in every state, priced with rules and tier (guest and unmapped ignored)');
is($node->safe_psql($src, q{
        SELECT string_agg(format('%s %s->%s %s', m.external_id, h.from_tier, h.to_tier, h.reason), ', '
                          ORDER BY m.external_id)
        FROM loyalty.tier_history h JOIN loyalty.member m USING (member_id)}),
    'c1 ->silver upgrade, c2 ->silver upgrade', 'source: c1 and c2 upgraded to silver on completion');
is($node->safe_psql($src, q{
        SELECT count(*) FILTER (WHERE operation = 'earn'), count(*) FILTER (WHERE operation = 'release'),
               count(*) FILTER (WHERE operation = 'reverse'), count(*) FILTER (WHERE operation = 'spend')
        FROM loyalty.points_entry}),
    '6|3|3|1', 'source ledger: 6 earns, 3 releases, 3 reversals (refund, cancel, partial refund), 1 spend');
is($node->safe_psql($src, $verify_sql), 'ok', 'verify() ok in the source');

my $src_fp = fingerprint($src);
my $src_orders = $node->safe_psql($src, q{SELECT string_agg(o::text, E'\n' ORDER BY id) FROM shop.orders o});
my $src_counts = $node->safe_psql($src, q{
    SELECT (SELECT count(*) FROM loyalty.order_state), (SELECT count(*) FROM loyalty.points_entry),
           (SELECT count(*) FROM loyalty.points_lot), (SELECT count(*) FROM loyalty.order_refund),
           (SELECT count(*) FROM loyalty.member)});

my $dump = $node->basedir . '/ly4_orders.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr($src) ], 'pg_dump -Fc of the source');
$node->safe_psql('postgres', "CREATE DATABASE $dst");
is($node->safe_psql($dst, q{SELECT count(*) FROM pg_extension WHERE extname = 'loyalty'}), '0',
    'the fresh database has no loyalty extension before the restore');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr($dst), $dump ],
    'pg_restore into the fresh database');

# --- the tracking configuration is re-resolved to the restored table ---------
is($node->safe_psql($dst, qq{SELECT orders::text FROM loyalty.tracked_table WHERE tracked_id = $tracked_id}),
    'shop.orders', 'tracked_table.orders still names shop.orders');
is($node->safe_psql($dst, qq{
        SELECT orders = 'shop.orders'::regclass AND active FROM loyalty.tracked_table WHERE tracked_id = $tracked_id}),
    't', 'tracked_table.orders is the restored table\'s OID, and tracking is active');
isnt($node->safe_psql($dst, q{SELECT 'shop.orders'::regclass::oid}),
    $node->safe_psql($src, q{SELECT 'shop.orders'::regclass::oid}),
    'the restored table has another OID than the source\'s (so the regclass was re-resolved by name)');
is($node->safe_psql($dst, q{
        SELECT string_agg(format('%s %s %s', tgname, tgenabled, tgfoid::regproc), ', ')
        FROM pg_trigger WHERE tgrelid = 'shop.orders'::regclass AND NOT tgisinternal}),
    'loyalty_track_orders O loyalty._order_trigger', 'the trigger loyalty_track_orders is on the restored table, enabled');

# --- the trigger did not fire while the data was loaded ----------------------
is($node->safe_psql($dst, q{SELECT string_agg(o::text, E'\n' ORDER BY id) FROM shop.orders o}), $src_orders,
    'shop.orders restored with the same rows');
is($node->safe_psql($dst, q{
    SELECT (SELECT count(*) FROM loyalty.order_state), (SELECT count(*) FROM loyalty.points_entry),
           (SELECT count(*) FROM loyalty.points_lot), (SELECT count(*) FROM loyalty.order_refund),
           (SELECT count(*) FROM loyalty.member)}),
    $src_counts, "order_state, ledger, lots, refunds and members: the same counts as the source ($src_counts)");
is($node->safe_psql($dst, q{
        SELECT (SELECT count(*) FROM loyalty.order_state WHERE order_id = '12') || '/'
            || (SELECT count(*) FROM loyalty.member WHERE external_id = 'c8')}),
    '0/0', 'restored: paid order 12 still unknown to loyalty (the trigger did not fire on the data load)');
my $dst_fp = fingerprint($dst);
for my $t (@fp_tables)
{
    is($dst_fp->{$t}, $src_fp->{$t}, "loyalty.$t identical after restore ($src_fp->{$t})");
}
is($node->safe_psql($dst, $verify_sql), 'ok', 'verify() ok after restore');
is($node->safe_psql($dst, $members_sql), $node->safe_psql($src, $members_sql),
    'every member\'s figures equal after restore');

# --- a refund repeated with its earlier ref replays its first result ---------
my $counts_sql = q{SELECT (SELECT count(*) FROM loyalty.order_refund), (SELECT count(*) FROM loyalty.points_entry)};
my $dst_counts_before = $node->safe_psql($dst, $counts_sql);
is($node->safe_psql($dst, q{SELECT loyalty.refund('shop.orders', '4', 2500, 'RF-4a', '2026-01-12 10:00+08')}),
    $rf4a, 'restored: refund RF-4a again returns its first result');
is($node->safe_psql($dst, q{SELECT loyalty.refund('shop.orders', '4', 2500, 'RF-4a', '2026-02-01 10:00+08')}),
    $rf4a, 'restored: refund RF-4a again (another instant) returns its first result');
is($node->safe_psql($dst, $counts_sql), $dst_counts_before, 'restored: the replayed refund booked nothing');
is($node->safe_psql($dst, $try_fn
      . q{SELECT pg_temp.ly4_try($q$SELECT loyalty.refund('shop.orders', '4', 3000, 'RF-4a', '2026-01-12 10:00+08')$q$)}),
    'LY005', 'restored: RF-4a with another amount is an idempotency conflict (LY005)');

# --- the same writes in both databases give the same ledger ------------------
my $writes = q{
    -- complete a paid order (c1's order 2) and cancel a completed one (c2's order 3, spend on it)
    UPDATE shop.orders SET status = 'completed', updated_at = '2026-02-10 10:00+08' WHERE id = 2;
    UPDATE shop.orders SET status = 'cancelled', updated_at = '2026-02-11 10:00+08' WHERE id = 3;
    -- a new customer's order
    INSERT INTO shop.orders VALUES (11, 'c7', 12300, 'paid', NULL, '2026-02-13 10:00+08');
};
my $rf4b_sql = q{SELECT loyalty.refund('shop.orders', '4', 1000, 'RF-4b', '2026-02-12 10:00+08')};
my $rf4a_sql = q{SELECT loyalty.refund('shop.orders', '4', 2500, 'RF-4a', '2026-01-12 10:00+08')};
for my $db ($src, $dst)
{
    $node->safe_psql($db, $writes);
}
is($node->safe_psql($src, $rf4b_sql), '35', 'source: refund RF-4b reverses 35 in total');
is($node->safe_psql($dst, $rf4b_sql), '35', 'restored: refund RF-4b reverses 35 in total');
is($node->safe_psql($dst, $rf4a_sql), $rf4a, 'restored: RF-4a still replays its first result after RF-4b');

my $after_states = '1:completed/g1/a60000/r0/e600 2:completed/g1/a20000/r0/e300 3:cancelled/g1/a30000/r0/e500 '
  . '4:completed/g1/a10000/r3500/e100 5:refunded/g1/a8000/r0/e80 6:cancelled/g1/a5000/r0/e50 11:paid/g1/a12300/r0/e123';
is($node->safe_psql($src, $states_sql), $after_states, 'source: order states after the later writes');
is($node->safe_psql($dst, $states_sql), $after_states, 'restored: the same order states after the same writes');

my $src_members = $node->safe_psql($src, $members_sql);
is($node->safe_psql($dst, $members_sql), $src_members,
    'restored and source: every member\'s balances equal after the same writes');
like($src_members, qr{^ly4shop/c1 tier=silver: .*; points=900 available=900 pending=0 lifetime=900 tier_points=900 debt=0; }m,
    'c1: order 2 completed in the source: 900 points available after its 7 days');
like($node->safe_psql($dst, $members_sql),
    qr{^ly4shop/c2 tier=silver: points=500 .*; points=0 available=0 pending=0 lifetime=\d+ tier_points=0 debt=0; }m,
    'c2 in the restored database: order 3 cancelled, its earn and its spend reversed, no debt');
is($node->safe_psql($dst, q{
        SELECT string_agg(format('%s %s %s', e.operation, e.points, e.ref), ', ' ORDER BY e.entry_id)
        FROM loyalty.points_entry e JOIN loyalty.member m USING (member_id)
        WHERE m.external_id = 'c1' AND e.source = 'order'}),
    'earn 600 1, release 0 1, earn 300 2, release 0 2',
    'restored: c1 has one earn and one release per order');

my $src_fp2 = fingerprint($src, 'booked_at');
my $dst_fp2 = fingerprint($dst, 'booked_at');
for my $t (@fp_tables)
{
    next if $t eq 'tracked_table';
    is($dst_fp2->{$t}, $src_fp2->{$t}, "after the same writes: loyalty.$t identical in both (booked_at aside)");
}
is($node->safe_psql($src, $verify_sql), 'ok', 'verify() ok in the source after the writes');
is($node->safe_psql($dst, $verify_sql), 'ok', 'verify() ok in the restored database after the writes');

# ===========================================================================
# Part 2: crash with committed and in-flight order writes
# ===========================================================================
my $cdb = 'ly4_crash';
$node->safe_psql('postgres', "CREATE DATABASE $cdb");
is($node->safe_psql($cdb, 'SHOW synchronous_commit'), 'on', 'synchronous_commit is on');
$node->safe_psql($cdb, q{
    CREATE EXTENSION loyalty;
    SELECT loyalty.create_program('ly4crash', 'Ly4 crash', 'CNY', '{"pending_days": 2}');
    SELECT loyalty.define_earn_rule('ly4crash', 'base', '{"on": "order", "per_amount": 100, "points": 1}');
    CREATE TABLE ly4c_orders (id text PRIMARY KEY, cust text, amt int, st text NOT NULL, at timestamptz NOT NULL);
    SELECT loyalty.track_orders('ly4c_orders', 'ly4crash', 'cust', 'amt', 'st', time_column => 'at');
});
for my $i (1 .. 8)
{
    my $cust = 'k' . (($i % 3) + 1);
    my $amt = 1000 * $i;
    $node->safe_psql($cdb, qq{
        BEGIN;
        INSERT INTO ly4c_orders VALUES ('co-$i', '$cust', $amt, 'paid', '2026-03-01 10:00+00'::timestamptz + interval '$i hours');
        UPDATE ly4c_orders SET st = 'completed', at = at + interval '30 minutes' WHERE id = 'co-$i';
        COMMIT;
    });
}
# one committed order left paid: its completion is in flight at the crash
$node->safe_psql($cdb, q{
    INSERT INTO ly4c_orders VALUES ('co-paid', 'k1', 4200, 'paid', '2026-03-02 10:00+00')});
my $crash_fp = fingerprint($cdb);
my $crash_states = $node->safe_psql($cdb, q{
    SELECT string_agg(format('%s:%s/e%s', order_id, state, earned), ' ' ORDER BY order_id) FROM loyalty.order_state});
is($crash_states,
    'co-1:completed/e10 co-2:completed/e20 co-3:completed/e30 co-4:completed/e40 co-5:completed/e50 '
      . 'co-6:completed/e60 co-7:completed/e70 co-8:completed/e80 co-paid:paid/e42',
    'before the crash: 8 committed completed orders and one paid');

my $bg = $node->background_psql($cdb);
$bg->query_safe('BEGIN');
$bg->query_safe(q{INSERT INTO ly4c_orders VALUES ('ghost-1', 'ghost-cust', 9900, 'paid', '2026-03-03 10:00+00')});
$bg->query_safe(q{UPDATE ly4c_orders SET st = 'completed', at = '2026-03-03 11:00+00' WHERE id = 'co-paid'});
is($bg->query_safe(q{
        SELECT (SELECT count(*) FROM loyalty.order_state WHERE order_id = 'ghost-1') || '/'
            || (SELECT count(*) FROM loyalty.points_entry WHERE ref = 'co-paid' AND operation = 'release')}),
    '1/1', 'in flight: the uncommitted transaction has recorded the new order and the completion');
is($node->safe_psql($cdb, q{SELECT count(*) FROM loyalty.order_state WHERE order_id = 'ghost-1'}), '0',
    'in flight: other sessions do not see it');

$node->stop('immediate');
eval { $bg->quit; };    # its server is gone
$node->start;

is($node->safe_psql($cdb, $verify_sql), 'ok', 'verify() ok after crash recovery');
is($node->safe_psql($cdb, q{
        SELECT string_agg(format('%s:%s/e%s', order_id, state, earned), ' ' ORDER BY order_id) FROM loyalty.order_state}),
    $crash_states, 'after the crash: every committed order has its order_state, the completion in flight is gone');
is($node->safe_psql($cdb, q{
        SELECT count(*) FROM loyalty.order_state s
        WHERE s.order_id LIKE 'co-_'
          AND (SELECT count(*) FROM loyalty.points_entry e
               WHERE e.member_id = s.member_id AND e.ref = s.order_id AND e.operation = 'earn' AND e.points = s.earned) = 1
          AND (SELECT count(*) FROM loyalty.points_entry e
               WHERE e.member_id = s.member_id AND e.ref = s.order_id AND e.operation = 'release') = 1
          AND (SELECT count(*) FROM loyalty.points_entry e
               WHERE e.member_id = s.member_id AND e.ref = s.order_id) = 2}),
    '8', 'after the crash: each of the 8 committed orders has exactly its earn and its release');
is($node->safe_psql($cdb, q{
        SELECT string_agg(operation, ',' ORDER BY entry_id) FROM loyalty.points_entry WHERE ref = 'co-paid'}),
    'earn', 'after the crash: the committed paid order has its earn and no release');
is($node->safe_psql($cdb, q{
        SELECT (SELECT count(*) FROM loyalty.order_state WHERE order_id = 'ghost-1') || '/'
            || (SELECT count(*) FROM loyalty.points_entry WHERE ref = 'ghost-1') || '/'
            || (SELECT count(*) FROM loyalty.member WHERE external_id = 'ghost-cust')}),
    '0/0/0', 'after the crash: the uncommitted order left no order_state, no entry, no member');
my $crash_fp2 = fingerprint($cdb);
for my $t (@fp_tables)
{
    is($crash_fp2->{$t}, $crash_fp->{$t}, "after the crash: loyalty.$t as committed before it");
}
# still working: the paid order completes, a new order is recorded
$node->safe_psql($cdb, q{
    UPDATE ly4c_orders SET st = 'completed', at = '2026-03-04 10:00+00' WHERE id = 'co-paid';
    INSERT INTO ly4c_orders VALUES ('ghost-1', 'ghost-cust', 9900, 'completed', '2026-03-04 11:00+00');
});
is($node->safe_psql($cdb, q{
        SELECT string_agg(format('%s:%s %s', e.ref, e.operation, e.points), ', ' ORDER BY e.entry_id)
        FROM loyalty.points_entry e WHERE e.ref IN ('co-paid', 'ghost-1')}),
    'co-paid:earn 42, co-paid:release 0, ghost-1:earn 99, ghost-1:release 0',
    'after the crash: orders are tracked again (completion released; a new completed order earned once and released)');
is($node->safe_psql($cdb, $verify_sql), 'ok', 'verify() ok after writes following the restart');

# ===========================================================================
# Part 3: untrack and track again
# ===========================================================================
my $rdb = 'ly4_retrack';
$node->safe_psql('postgres', "CREATE DATABASE $rdb");
$node->safe_psql($rdb, q{
    CREATE EXTENSION loyalty;
    SELECT loyalty.create_program('ly4rt', 'Ly4 retrack', 'CNY', '{"pending_days": 3}');
    SELECT loyalty.define_earn_rule('ly4rt', 'base', '{"on": "order", "per_amount": 100, "points": 1}');
    CREATE TABLE ly4r_orders (id bigint PRIMARY KEY, cust text, amt bigint, st text NOT NULL, at timestamptz NOT NULL);
});
my $track_sql = q{SELECT loyalty.track_orders('ly4r_orders', 'ly4rt', 'cust', 'amt', 'st', time_column => 'at')};
my $rt_id = $node->safe_psql($rdb, $track_sql);
like($rt_id, qr/^\d+$/, "ly4r_orders tracked (id $rt_id)");

# A session that uses the trigger before, during and after the untracking.
my $app = $node->background_psql($rdb);
$app->query_safe(q{INSERT INTO ly4r_orders VALUES (1, 'rt1', 5000, 'paid', '2026-05-01 10:00+00')});
is($node->safe_psql($rdb, q{SELECT state || '/' || earned FROM loyalty.order_state WHERE order_id = '1'}),
    'paid/50', 'order 1 paid while tracked: 50 points pending');

$node->safe_psql($rdb, q{SELECT loyalty.untrack_orders('ly4r_orders')});
is($node->safe_psql($rdb, q{
        SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'ly4r_orders'::regclass AND tgname = 'loyalty_track_orders')
            || '/' || (SELECT active FROM loyalty.tracked_table WHERE orders = 'ly4r_orders'::regclass)}),
    '0/false', 'untracked: the trigger is dropped and the tracking row inactive');
$app->query_safe(q{INSERT INTO ly4r_orders VALUES (2, 'rt2', 7000, 'paid', '2026-05-02 10:00+00')});
is($node->safe_psql($rdb, q{
        SELECT (SELECT count(*) FROM loyalty.order_state WHERE order_id = '2') || '/'
            || (SELECT count(*) FROM loyalty.member WHERE external_id = 'rt2')}),
    '0/0', 'while untracked: a new order is not seen');
is($node->safe_psql($rdb, $try_fn
      . q{SELECT pg_temp.ly4_try($q$SELECT loyalty.refund('ly4r_orders', '1', 100, 'rf-x', '2026-05-02 10:00+00')$q$)}),
    'LY014', 'while untracked: refund() refuses the table (LY014)');

is($node->safe_psql($rdb, $track_sql), $rt_id, 'tracked again: the tracking id stays the same');
is($node->safe_psql($rdb, q{
        SELECT count(*) || '/' || bool_and(active) || '/' || bool_and(untracked_at IS NULL)
        FROM loyalty.tracked_table WHERE orders = 'ly4r_orders'::regclass}),
    '1/true/true', 'tracked again: one tracking row, active');

# the order paid before untracking completes, from the same application session
$app->query_safe(q{UPDATE ly4r_orders SET st = 'completed', at = '2026-05-03 10:00+00' WHERE id = 1});
$app->quit;
is($node->safe_psql($rdb, q{
        SELECT format('%s/g%s/e%s/%s', state, generation, earned, completed_at) FROM loyalty.order_state
        WHERE order_id = '1'}),
    'completed/g1/e50/2026-05-03 10:00:00+00', 'order 1 completed after re-tracking, generation 1');
is($node->safe_psql($rdb, q{
        SELECT string_agg(format('%s %s %s', operation, points, ref), ', ' ORDER BY entry_id)
        FROM loyalty.points_entry WHERE member_id = loyalty.member('ly4rt', 'rt1')}),
    'earn 50 1, release 0 1', 'order 1: one earn (before untracking) and one release, no second earn');
is($node->safe_psql($rdb, q{
        SELECT available || '/' || pending FROM loyalty.balance(loyalty.member('ly4rt', 'rt1'), '2026-05-06 10:00+00')}),
    '50/0', 'order 1: its 50 points available pending_days after completion');
is($node->safe_psql($rdb, q{
        SELECT loyalty.refund('ly4r_orders', '1', 1000, 'rf-1', '2026-05-07 10:00+00')}),
    '10', 'tracked again: a refund of the old order works (10 of 50 reversed)');
is($node->safe_psql($rdb, $verify_sql), 'ok', 'verify() ok after re-tracking');

$node->stop;
done_testing();
