# 001_crash_restart.pl: the ledger survives a server crash, and a run_expiry
# killed midway is resumed by the next run without booking anything twice.
#
# Part 1: a programme with earns (expiring, pending), spends, transfers,
# adjustments and reversals that leave debt; every member's figures are
# snapshotted, the server is crashed (immediate stop: no shutdown
# checkpoint, recovery replays WAL) with a write in flight, and restarted.
# verify() must be all ok, every figure identical, the in-flight write gone,
# and the ledger writable again.
#
# Part 2: 2,000 expired lots (200 members x 10), run_expiry with batch_size
# 50 (40 batches).  An application transaction holds member 51's row, so the
# job commits 10 batches and then waits for it; it is terminated there.  The
# 10 batches stay booked; job_progress (runs in progress) drops it and
# job_runs shows it failed at once, to any loyalty_admin, as it showed it
# running before; the next run marks its row failed, books the other 1,500
# lots, and every expired lot ends up with exactly one expire entry.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->start;

my $db = 'postgres';
$node->safe_psql($db, 'CREATE EXTENSION loyalty');

# One-row summary of verify(): "ok" or the failing checks.
my $verify_sql = q{
    SELECT CASE WHEN bool_and(ok) THEN 'ok' ELSE string_agg(check_name || ': ' || detail, '; ')
           FILTER (WHERE NOT ok) END
    FROM loyalty.verify()};

# ---------------------------------------------------------------------------
# Part 1: crash and restart
# ---------------------------------------------------------------------------

$node->safe_psql($db, q{
    SELECT loyalty.create_program('crash', 'Crash test', 'CNY',
        '{"points_expire_months": 12, "timezone": "Asia/Shanghai"}');
    SELECT loyalty.enroll('crash', 'c' || i, '2024-01-01 00:00+00') FROM generate_series(1, 60) i;
    -- an order's earn for everyone (expiring under the 12-month policy)
    SELECT loyalty.earn(loyalty.member('crash', 'c' || i), 100 + i, 'order', 'o1-' || i,
                        NULL, NULL, '2024-01-10 00:00+00') FROM generate_series(1, 60) i;
    -- never-expiring bonus, and pending points for some
    SELECT loyalty.earn(loyalty.member('crash', 'c' || i), 25, 'bonus', 'b-' || i,
                        'infinity', NULL, '2024-01-05 00:00+00') FROM generate_series(1, 60, 2) i;
    SELECT loyalty.earn(loyalty.member('crash', 'c' || i), 40, 'order', 'pend-' || i,
                        NULL, 'infinity', '2024-01-11 00:00+00') FROM generate_series(1, 60, 5) i;
    -- spends
    SELECT loyalty.spend(loyalty.member('crash', 'c' || i), 90, 'mall', 's1-' || i,
                         '2024-02-01 00:00+00') FROM generate_series(1, 60) i;
    -- transfers between neighbours
    SELECT loyalty.transfer_points(loyalty.member('crash', 'c' || i), loyalty.member('crash', 'c' || (i + 1)),
                                   5, 't-' || i, '2024-02-10 00:00+00') FROM generate_series(1, 59, 3) i;
    -- administrative corrections
    SELECT loyalty.adjust(loyalty.member('crash', 'c' || i), 7, 'goodwill', 'a-' || i,
                          '2024-02-15 00:00+00') FROM generate_series(1, 60, 4) i;
    -- reverse the first order of members 1-20 after they spent: debt for those
    -- without enough left; a partial reverse for members 21-30
    SELECT loyalty.reverse(loyalty.member('crash', 'c' || i), 'order', 'o1-' || i, NULL,
                           '2024-03-01 00:00+00') FROM generate_series(1, 20) i;
    SELECT loyalty.reverse(loyalty.member('crash', 'c' || i), 'order', 'o1-' || i, 10,
                           '2024-03-02 00:00+00') FROM generate_series(21, 30) i;
    -- and reverse some spends (points go back to their lots)
    SELECT loyalty.reverse(loyalty.member('crash', 'c' || i), 'mall', 's1-' || i, 30,
                           '2024-03-05 00:00+00') FROM generate_series(31, 40) i;
});

my $debtors = $node->safe_psql($db, q{
    SELECT count(*) FROM loyalty.member m JOIN loyalty.program p USING (program_id)
    WHERE p.code = 'crash' AND m.debt > 0});
cmp_ok($debtors, '>', 0, "some members owe points before the crash ($debtors)");
is($node->safe_psql($db, $verify_sql), 'ok', 'verify() ok before the crash');

# Every figure of every member, at several instants, plus the raw tables.
my $snapshot_sql = q{
    SELECT string_agg(format('%s booked=%s debt=%s lifetime=%s | %s', m.external_id, m.booked, m.debt,
                             m.lifetime_earned, x.figures), E'\n' ORDER BY m.external_id)
    FROM loyalty.member m
    CROSS JOIN LATERAL (
        SELECT string_agg(format('%s: points=%s available=%s pending=%s expiring_30d=%s lifetime=%s tier=%s debt=%s',
                                 t::date, loyalty.points(m.member_id, t), b.available, b.pending, b.expiring_30d,
                                 b.lifetime_earned, b.tier_points, b.debt), '; ' ORDER BY t) AS figures
        FROM unnest(ARRAY['2024-01-20', '2024-02-12', '2024-03-03', '2024-06-01', '2025-03-01']::timestamptz[]) t
        CROSS JOIN LATERAL loyalty.balance(m.member_id, t) b) x};
my $tables_sql = q{
    SELECT string_agg(format('%s %s', c.relname, c.n), ', ' ORDER BY c.relname) FROM (
        SELECT 'points_entry' AS relname, md5(string_agg(e::text, ',' ORDER BY e.member_id, e.entry_id)) AS n
        FROM loyalty.points_entry e
        UNION ALL
        SELECT 'points_lot', md5(string_agg(l::text, ',' ORDER BY l.member_id, l.lot_id)) FROM loyalty.points_lot l
        UNION ALL
        SELECT 'member', md5(string_agg(m::text, ',' ORDER BY m.member_id)) FROM loyalty.member m) c};

my $before = $node->safe_psql($db, $snapshot_sql);
my $tables_before = $node->safe_psql($db, $tables_sql);
like($before, qr/^c1 booked=/, 'snapshot taken');

# A write in flight at the crash: it must not survive.
my ($fl_in, $fl_out, $fl_err) = ("BEGIN;\nSELECT loyalty.earn(loyalty.member('crash', 'c1'), 1000, 'order', 'inflight', NULL, NULL, '2024-03-10 00:00+00');\n", '', '');
my $inflight = IPC::Run::start(
    [ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db), '-f', '-' ],
    '<', \$fl_in, '>', \$fl_out, '2>', \$fl_err,
    IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
$inflight->pump until $fl_out =~ /^\d+$/m;
ok(1, 'an uncommitted earn is in flight');

$node->stop('immediate');
$inflight->finish;    # its server is gone
$node->start;

is($node->safe_psql($db, $verify_sql), 'ok', 'verify() ok after crash recovery');
is($node->safe_psql($db, $snapshot_sql), $before, 'every member\'s figures identical after the crash');
is($node->safe_psql($db, $tables_sql), $tables_before, 'ledger, lots and members byte-identical after the crash');
is($node->safe_psql($db, q{SELECT count(*) FROM loyalty.points_entry WHERE ref = 'inflight'}),
    '0', 'the in-flight earn is gone');

# Still writable: sequences continue, no key collides.
$node->safe_psql($db, q{
    SELECT loyalty.enroll('crash', 'after', '2024-04-01 00:00+00');
    SELECT loyalty.earn(loyalty.member('crash', 'after'), 50, 'order', 'after-1', NULL, NULL, '2024-04-01 00:00+00');
    SELECT loyalty.earn(loyalty.member('crash', 'c1'), 5, 'order', 'after-2', NULL, NULL, '2024-04-01 00:00+00');
    SELECT loyalty.spend(loyalty.member('crash', 'after'), 20, 'mall', 'after-3', '2024-04-02 00:00+00');});
is($node->safe_psql($db, q{SELECT loyalty.points(loyalty.member('crash', 'after'), '2024-05-01 00:00+00')}),
    '30', 'writes work after the restart');
is($node->safe_psql($db, $verify_sql), 'ok', 'verify() ok after writes following the restart');

# ---------------------------------------------------------------------------
# Part 2: run_expiry killed midway, then run to completion
# ---------------------------------------------------------------------------

my $as_of = '2024-06-01 00:00+00';
# Member i's 10 lots (1..10 points) expire at 2024-02-01 + i minutes, so the
# job's batches of 50 lots take members 1-5, 6-10, ... in order.
$node->safe_psql($db, q{
    SELECT loyalty.create_program('expk', 'Killed expiry', 'CNY');
    SELECT loyalty.enroll('expk', 'k' || i, '2024-01-01 00:00+00') FROM generate_series(1, 200) i;
    SELECT loyalty.earn(loyalty.member('expk', 'k' || i), j, 'order', format('k%s-%s', i, j),
                        '2024-02-01 00:00+00'::timestamptz + i * interval '1 minute', NULL,
                        '2024-01-01 00:00+00')
    FROM generate_series(1, 200) i, generate_series(1, 10) j;
});
my $expk = q{(SELECT m.member_id FROM loyalty.member m JOIN loyalty.program p USING (program_id) WHERE p.code = 'expk')};
is($node->safe_psql($db, "SELECT count(*), sum(points) FROM loyalty.points_lot WHERE member_id IN $expk AND expires_at <= '$as_of'"),
    '2000|11000', '2,000 expired lots holding 11,000 points');
is($node->safe_psql($db, "SELECT count(*) FROM loyalty.points_lot WHERE expires_at <= '$as_of' AND remaining > 0 AND member_id NOT IN $expk"),
    '0', 'no other programme has lots expired at as_of');
my $history_sql = "SELECT string_agg(loyalty.points(member_id, '2024-01-15 00:00+00')::text || '/' || loyalty.points(member_id, '$as_of')::text, ',' ORDER BY member_id) FROM $expk AS k(member_id)";
my $history_before = $node->safe_psql($db, $history_sql);

# An application transaction holds member k51 (the job's 11th batch).
my ($bl_in, $bl_out, $bl_err) = ("BEGIN;\nSELECT loyalty.earn(loyalty.member('expk', 'k51'), 1, 'app', 'blocker', NULL, NULL, '2024-01-02 00:00+00');\n", '', '');
my $blocker = IPC::Run::start(
    [ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db), '-f', '-' ],
    '<', \$bl_in, '>', \$bl_out, '2>', \$bl_err,
    IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
$blocker->pump until $bl_out =~ /^\d+$/m;

my ($job_out, $job_err) = ('', '');
my $job = IPC::Run::start(
    [ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db),
      '-c', "CALL loyalty.run_expiry('$as_of', 50)" ],
    '>', \$job_out, '2>', \$job_err,
    IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));

my $running = q{(SELECT pid FROM loyalty.job_runs WHERE job = 'run_expiry' AND state = 'running')};
ok($node->poll_query_until($db, qq{
        SELECT r.batches = 10 AND a.wait_event_type = 'Lock'
        FROM loyalty.job_runs r JOIN pg_stat_activity a ON a.pid = r.pid
        WHERE r.job = 'run_expiry' AND r.state = 'running'}),
    'run_expiry committed 10 batches and waits for the held member');
# What another session sees; and an administrator other than the role
# running the job (pg_stat_activity hides other roles' backends from it).
my $progress_sql = q{
    SELECT (SELECT string_agg(format('%s batches=%s items=%s amount=%s', job, batches, items, amount), '; ')
            FROM loyalty.job_progress),
           (SELECT string_agg(format('%s %s batches=%s items=%s', job, state, batches, items), '; ' ORDER BY run_id)
            FROM loyalty.job_runs)};
$node->safe_psql($db, 'CREATE ROLE ly_monitor LOGIN IN ROLE loyalty_admin');
my $running_view = 'run_expiry batches=10 items=500 amount=2750|run_expiry running batches=10 items=500';
is($node->safe_psql($db, $progress_sql), $running_view,
    'job_progress and job_runs show the run in progress from another session');
is($node->safe_psql($db, "SET ROLE ly_monitor; $progress_sql"), $running_view,
    'and to another loyalty_admin');

my $job_pid = $node->safe_psql($db, "SELECT $running");
is($node->safe_psql($db, "SELECT pg_terminate_backend($job_pid)"), 't', 'run_expiry terminated');
$job->finish;
isnt($?, 0, 'the CALL failed');
like($job_err, qr/terminating connection/, 'psql saw the backend terminated');
ok($node->poll_query_until($db, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $job_pid"),
    'its backend is gone');

my $failed_view = '|run_expiry failed batches=10 items=500';
is($node->safe_psql($db, $progress_sql), $failed_view,
    'the killed run leaves job_progress; job_runs shows it failed');
is($node->safe_psql($db, "SET ROLE ly_monitor; $progress_sql"), $failed_view,
    'and so it does to another loyalty_admin');
is($node->safe_psql($db, "SELECT count(*), -sum(points) FROM loyalty.points_entry WHERE operation = 'expire' AND member_id IN $expk"),
    '500|2750', 'the 10 committed batches stay booked, the 11th rolled back');
is($node->safe_psql($db, $verify_sql), 'ok', 'verify() ok after the kill');

# Release the member and run the job again to completion.
$bl_in .= "ROLLBACK;\n\\q\n";
$blocker->finish;
is($?, 0, 'the application transaction rolled back cleanly');

my ($rc, $out, $err) = $node->psql($db, "CALL loyalty.run_expiry('$as_of', 50)");
is($rc, 0, 'second run_expiry completes');
like($err, qr/done: 1500 lots, 8250 points expired in 30 batches/, 'it booked the remaining 1,500 lots');

is($node->safe_psql($db, q{
        SELECT string_agg(format('%s %s batches=%s items=%s amount=%s finished=%s', job, state, batches, items, amount,
                                 finished_at IS NOT NULL), E'\n' ORDER BY run_id)
        FROM loyalty.job_runs WHERE job = 'run_expiry'}),
    "run_expiry failed batches=10 items=500 amount=2750 finished=t\nrun_expiry done batches=30 items=1500 amount=8250 finished=t",
    'job_runs: the killed run failed (its row closed by the next run), the new run done');
is($node->safe_psql($db, 'SELECT count(*) FROM loyalty.job_progress'), '0', 'nothing left in job_progress');

# Every expired lot booked exactly once, for its whole remainder, at its expiry.
is($node->safe_psql($db, qq{
        SELECT count(*), count(DISTINCT e.lots[1]), -sum(e.points)
        FROM loyalty.points_entry e WHERE e.operation = 'expire' AND e.member_id IN $expk}),
    '2000|2000|11000', '2,000 expire entries, one per lot, 11,000 points');
is($node->safe_psql($db, qq{
        SELECT count(*) FROM loyalty.points_lot l
        LEFT JOIN LATERAL (
            SELECT count(*) AS n, sum(-e.points) AS pts, min(e.at) AS at, bool_and(cardinality(e.lots) = 1) AS one
            FROM loyalty.points_entry e
            WHERE e.member_id = l.member_id AND e.operation = 'expire' AND e.lots[1] = l.lot_id) x ON true
        WHERE l.member_id IN $expk
          AND NOT (x.n = 1 AND x.pts = l.points AND x.at = l.expires_at AND x.one AND l.remaining = 0)}),
    '0', 'each lot: exactly one expire entry, for all its points, dated at its expiry; nothing remains');
is($node->safe_psql($db, $history_sql), $history_before,
    'points() at any instant unchanged by booking the expiry');
is($node->safe_psql($db, $verify_sql), 'ok', 'verify() ok after the completed run');

my ($rc3, $out3, $err3) = $node->psql($db, "CALL loyalty.run_expiry('$as_of', 50)");
like($err3, qr/done: 0 lots, 0 points/, 'a third run finds nothing left to book');

$node->stop;
done_testing();
