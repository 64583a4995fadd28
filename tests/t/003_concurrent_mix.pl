# 003_concurrent_mix.pl: many sessions at once (pgbench, 8 clients, ~10 s)
# running a random mix of transfer_points in both directions, spend, earn
# of lots that expire seconds later, reverse of earns and spends, and
# CALL run_expiry, plus readers.  The isolation specs pin down each
# interleaving; this checks the whole under real concurrency (SPEC section
# 1, "Concurrency"):
#   - no transaction fails except with LY001 (insufficient points, expected
#     and caught): no deadlock (deadlock_timeout is short so one would show),
#     no unique or check violation;
#   - a reader summing points() of two members who only transfer to each
#     other always sees the same total (no torn read);
#   - afterwards verify() is ok, transfers sum to zero, no spend, transfer
#     or reversal took points from a lot that was expired or pending at its
#     instant, and every expired remainder is booked, never more than a lot
#     held.
# Then one interleaving the mix hits only now and then, made deterministic:
# with the default `at` (now(), the transaction's start), a refund
# transaction that began before an order's earn or spend committed reverses
# it at an instant before the entry itself.  The ledger must not then show,
# at the instants in between, the reversal without its original (points
# taken from a lot not yet there, or given back before they were spent).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('mix');
$node->init;
$node->append_conf('postgresql.conf', qq{
deadlock_timeout = '100ms'
max_connections = 40
log_statement = none
});
$node->start;

my $db = 'postgres';
$node->safe_psql($db, q{
    CREATE EXTENSION loyalty;
    SELECT loyalty.create_program('mix', 'Concurrent mix');
    SELECT loyalty.enroll('mix', 'm' || i, now() - interval '1 day') FROM generate_series(1, 12) i;
    SELECT loyalty.earn(loyalty.member('mix', 'm' || i), 2000, 'seed', 's' || i, NULL, NULL,
                        now() - interval '1 hour') FROM generate_series(1, 12) i;
    -- two members who only ever transfer to each other
    SELECT loyalty.create_program('pair', 'Transfers only');
    SELECT loyalty.enroll('pair', x, now() - interval '1 day') FROM unnest(ARRAY['x', 'y']) x;
    SELECT loyalty.earn(loyalty.member('pair', x), 100000, 'seed', 's', NULL, NULL,
                        now() - interval '1 hour') FROM unnest(ARRAY['x', 'y']) x;
    -- LY001 is an expected answer under contention; anything else must fail
    CREATE FUNCTION mix_try(q text) RETURNS text LANGUAGE plpgsql AS $$
    BEGIN
        EXECUTE q;
        RETURN 'ok';
    EXCEPTION WHEN SQLSTATE 'LY001' THEN
        RETURN 'LY001';
    END $$;
    CREATE FUNCTION mix_m(i int) RETURNS bigint LANGUAGE sql STABLE AS $$
        SELECT loyalty.member('mix', 'm' || i) $$;
});

my %scripts = (
    'transfer.sql' => q{
\set a random(1, 12)
\set b random(1, 12)
\set p random(1, 60)
\set r random(1, 2000000000)
SELECT mix_try(format('SELECT loyalty.transfer_points(%s, %s, %s, %L)', mix_m(:a), mix_m(:b), :p, 't' || :r)) WHERE :a <> :b;
},
    'spend.sql' => q{
\set a random(1, 12)
\set p random(1, 80)
\set r random(1, 2000000000)
SELECT mix_try(format('SELECT loyalty.spend(%s, %s, %L, %L)', mix_m(:a), :p, 'shop', 'sp' || :r));
},
    'earn.sql' => q{
\set a random(1, 12)
\set p random(1, 100)
\set e random(1, 8)
\set r random(1, 2000000000)
SELECT mix_try(format('SELECT loyalty.earn(%s, %s, %L, %L, %L)', mix_m(:a), :p, 'order', 'e' || :r,
                      now() + :e * interval '1 second'));
},
    'reverse.sql' => q{
\set a random(1, 12)
SELECT mix_try(format('SELECT loyalty.reverse(%s, %L, %L, NULL)', e.member_id, e.source, e.ref))
FROM (SELECT member_id, source, ref FROM loyalty.points_entry
      WHERE member_id = mix_m(:a) AND operation IN ('earn', 'spend') AND source IN ('order', 'shop')
      ORDER BY random() LIMIT 1) e;
},
    'expiry.sql' => q{
CALL loyalty.run_expiry(now(), 5);
},
    'pair.sql' => q{
\set d random(0, 1)
\set p random(1, 500)
\set r random(1, 2000000000)
SELECT mix_try(format('SELECT loyalty.transfer_points(%s, %s, %s, %L)',
                      loyalty.member('pair', CASE WHEN :d = 0 THEN 'x' ELSE 'y' END),
                      loyalty.member('pair', CASE WHEN :d = 0 THEN 'y' ELSE 'x' END), :p, 'p' || :r));
},
    'read.sql' => q{
SELECT CASE WHEN s <> 200000 THEN (s::text || ' points: torn read')::int END
FROM (SELECT loyalty.points(loyalty.member('pair', 'x')) + loyalty.points(loyalty.member('pair', 'y')) AS s) q;
SELECT CASE WHEN s <> 200000 THEN (s::text || ' balance: torn read')::int END
FROM (SELECT (SELECT available FROM loyalty.balance(loyalty.member('pair', 'x')))
           + (SELECT available FROM loyalty.balance(loyalty.member('pair', 'y'))) AS s) q;
},
);
my %weight = ('transfer.sql' => 4, 'spend.sql' => 3, 'earn.sql' => 3, 'reverse.sql' => 2,
              'expiry.sql' => 1, 'pair.sql' => 2, 'read.sql' => 2);
my @files;
for my $f (sort keys %scripts)
{
    my $path = $node->basedir . "/$f";
    PostgreSQL::Test::Utils::append_to_file($path, $scripts{$f});
    push @files, '-f', "$path\@$weight{$f}";
}

{
    local $ENV{PGOPTIONS} = '-c client_min_messages=warning';
    my ($out, $err) = ('', '');
    my $ok = IPC::Run::run(
        [ 'pgbench', '-n', '-c', '8', '-j', '2', '-T', '10', @files,
          '-h', $node->host, '-p', $node->port, $db ],
        '>', \$out, '2>', \$err);
    note($out);
    ok($ok, 'pgbench ran to the end (no client aborted)') or diag($err);
    like($out, qr/number of failed transactions: 0 \(/, 'no transaction failed');
    unlike($err, qr/ERROR|deadlock|aborted/i, 'no error: no deadlock, no violation, no torn read');
    my ($n) = $out =~ /number of transactions actually processed: (\d+)/;
    cmp_ok($n // 0, '>', 1000, 'a real load: ' . ($n // 0) . ' transactions');
}

# Book everything expired by now, then look at the ledger.
$node->safe_psql($db, q{SET client_min_messages = warning; CALL loyalty.run_expiry(now() + interval '1 minute', 1000)});

is($node->safe_psql($db, q{
        SELECT CASE WHEN bool_and(ok) THEN 'ok' ELSE string_agg(check_name || ': ' || detail, '; ')
               FILTER (WHERE NOT ok) END FROM loyalty.verify()}),
    'ok', 'verify() ok after the mix');
# The read cache each writer left on the member row (written by concurrent
# sessions whose `at`s commit out of order) answers as the ledger replay does.
is($node->safe_psql($db, q{
        SELECT count(*) FROM loyalty.member m,
             generate_series((SELECT min(booked_at) FROM loyalty.points_entry WHERE operation = 'transfer'),
                             now() + interval '10 seconds', interval '500 milliseconds') t,
             loyalty.balance(m.member_id, t) b
        WHERE loyalty.points(m.member_id, t) <> b.available}),
    '0', 'points() (read cache) equals balance() (ledger replay) at every instant of the run');
is($node->safe_psql($db, q{SELECT COALESCE(sum(points), 0) FROM loyalty.points_entry WHERE operation = 'transfer'}),
    '0', 'transfers sum to zero');
is($node->safe_psql($db, q{
        SELECT sum(loyalty.points(member_id, now() + interval '2 minutes'))
        FROM loyalty.member m JOIN loyalty.program p USING (program_id) WHERE p.code = 'pair'}),
    '200000', 'the pair still holds 200,000 points between them');
my $counts = $node->safe_psql($db, q{
    SELECT string_agg(operation || '=' || n, ' ' ORDER BY operation)
    FROM (SELECT operation, count(*) AS n FROM loyalty.points_entry GROUP BY 1) x});
note("entries: $counts");
like($counts, qr/expire=\d+.*reverse=\d+.*spend=\d+.*transfer=\d+/, 'every kind of write happened');

is($node->safe_psql($db, q{
        SELECT count(*) FROM loyalty.points_entry e, unnest(e.lots, e.lot_points) AS u(lot_id, moved),
             loyalty.points_lot l
        WHERE l.member_id = e.member_id AND l.lot_id = u.lot_id AND u.moved < 0
          AND e.operation IN ('spend', 'transfer', 'reverse')
          AND (l.expires_at <= e.at OR l.available_at > e.at)
          -- a reversal dated before its own earn: tested deterministically below
          AND NOT (e.operation = 'reverse' AND e.at < (SELECT o.at FROM loyalty.points_entry o
                                                        WHERE o.member_id = e.member_id AND o.entry_id = e.reverses))}),
    '0', 'no spend, transfer or reversal took points from an expired or pending lot');
is($node->safe_psql($db, q{
        SELECT count(*) FROM loyalty.points_lot
        WHERE remaining > 0 AND expires_at <= now() + interval '1 minute'}),
    '0', 'every expired remainder is booked');
# A lot is expired again only after a reversal gave points back to it.
is($node->safe_psql($db, q{
        WITH expired AS (
            SELECT member_id, lots[1] AS lot_id, count(*) AS n, sum(-points) AS pts
            FROM loyalty.points_entry WHERE operation = 'expire' GROUP BY 1, 2),
        returned AS (
            SELECT e.member_id, u.lot_id, count(*) AS n
            FROM loyalty.points_entry e, unnest(e.lots, e.lot_points) AS u(lot_id, moved)
            WHERE e.operation = 'reverse' AND u.moved > 0 GROUP BY 1, 2)
        SELECT count(*) FROM expired x
        JOIN loyalty.points_lot l USING (member_id, lot_id)
        LEFT JOIN returned r USING (member_id, lot_id)
        WHERE x.n > 1 + COALESCE(r.n, 0) OR x.pts > l.points}),
    '0', 'no lot expired twice over, none beyond its points');

# ---------------------------------------------------------------------------
# A reversal whose transaction began before the entry it reverses
# ---------------------------------------------------------------------------
$node->safe_psql($db, q{
    SELECT loyalty.create_program('late', 'Late reversal');
    SELECT loyalty.enroll('late', 'r', now() - interval '1 day');
    SELECT loyalty.earn(loyalty.member('late', 'r'), 50, 'bonus', 'b', NULL, NULL, now() - interval '1 hour');
});

# The refund transaction starts (its now() is fixed from here on) ...
my ($rf_in, $rf_out, $rf_err) = ("BEGIN;\nSELECT 'started';\n", '', '');
my $refund = IPC::Run::start(
    [ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=0', '-d', $node->connstr($db), '-f', '-' ],
    '<', \$rf_in, '>', \$rf_out, '2>', \$rf_err,
    IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
$refund->pump until $rf_out =~ /started/;
# ... an order earns 100 and spends 30, both committed a moment later ...
usleep(20_000);
$node->safe_psql($db, q{
    SELECT loyalty.earn(loyalty.member('late', 'r'), 100, 'order', 'o1');
    SELECT loyalty.spend(loyalty.member('late', 'r'), 30, 'order', 'o2');});
my $between = $node->safe_psql($db, q{
    SELECT string_agg(format('%s:%s', k, loyalty.points(loyalty.member('late', 'r'), t)), ' ' ORDER BY k)
    FROM (SELECT 1 AS k, (SELECT min(at) FROM loyalty.points_entry e
                          WHERE e.member_id = loyalty.member('late', 'r') AND e.operation = 'earn' AND e.ref = 'o1')
                         - interval '1 millisecond') s(k, t)});
# ... and the refund, which sees them now, reverses both with its own now().
$rf_in .= "SELECT 'earn reversed' FROM loyalty.reverse(loyalty.member('late', 'r'), 'order', 'o1', 100) x;\n"
  . "SELECT 'spend reversed' FROM loyalty.reverse(loyalty.member('late', 'r'), 'order', 'o2', 30) x;\n"
  . "COMMIT;\n\\q\n";
$refund->finish;
note("refund session: $rf_out / $rf_err");

is($node->safe_psql($db, q{
        SELECT count(*) FROM loyalty.points_entry r
        JOIN loyalty.points_entry o ON o.member_id = r.member_id AND o.entry_id = r.reverses
        WHERE r.member_id = loyalty.member('late', 'r') AND r.at < o.at}),
    '0', 'no reversal is dated before the entry it reverses (refused, or dated at it)');
is($node->safe_psql($db, q{
        SELECT string_agg(format('%s:%s', k, loyalty.points(loyalty.member('late', 'r'), t)), ' ' ORDER BY k)
        FROM (SELECT 1 AS k, (SELECT min(at) FROM loyalty.points_entry e
                              WHERE e.member_id = loyalty.member('late', 'r') AND e.operation = 'earn' AND e.ref = 'o1')
                         - interval '1 millisecond') s(k, t)}),
    $between, 'points() just before the order is what it was before the refund');
is($node->safe_psql($db, q{
        SELECT count(*) FROM loyalty.points_lot l
        WHERE l.member_id = loyalty.member('late', 'r')
          AND EXISTS (SELECT 1 FROM loyalty.points_entry e, unnest(e.lots, e.lot_points) AS u(lot_id, moved)
                      WHERE e.member_id = l.member_id AND u.lot_id = l.lot_id AND e.at < l.created_at)}),
    '0', 'no entry moves a lot before the lot exists');
is($node->safe_psql($db, q{
        SELECT CASE WHEN bool_and(ok) THEN 'ok' ELSE string_agg(check_name || ': ' || detail, '; ')
               FILTER (WHERE NOT ok) END FROM loyalty.verify('late')}),
    'ok', 'verify() ok');

$node->stop;
done_testing();
