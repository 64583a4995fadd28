# 002_dump_restore.pl: pg_dump -Fc / pg_restore of a database using loyalty
# keeps all its data (SPEC section 10).
#
# A source database is populated with every kind of row the extension keeps:
# programmes with settings (one with application member ids), members with
# birthdays and attrs, tags, earns (expiring, pending), spends, transfers,
# adjustments, reversals leaving debt, booked expiries, job runs and audit
# rows.  It is dumped in custom format and restored into a new database.
# Then:
#   - every table of the loyalty schema is registered for pg_dump and has the
#     same rows (count and md5 of the sorted rows) in both databases;
#   - every sequence of the schema is registered and stands at the same
#     value, so new programmes, members, entries, lots, job runs and audit
#     rows after the restore take ids beyond the restored ones;
#   - verify() is ok and points()/balance() are equal for every member;
#   - a role limited to programme shop by grant_program (kept as regrole,
#     dumped by name) is still limited in the restored database.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;

my $src = 'loyalty_src';
my $dst = 'loyalty_restored';
$node->safe_psql('postgres', "CREATE DATABASE $src");
$node->safe_psql($src, 'CREATE EXTENSION loyalty');

my $verify_sql = q{
    SELECT CASE WHEN bool_and(ok) THEN 'ok' ELSE string_agg(check_name || ': ' || detail, '; ')
           FILTER (WHERE NOT ok) END
    FROM loyalty.verify()};

# ---------------------------------------------------------------------------
# Populate
# ---------------------------------------------------------------------------
$node->safe_psql($src, q{
    SELECT loyalty.create_program('shop', 'Shop "Main" 主店', 'CNY',
        '{"timezone": "Asia/Shanghai", "points_expire_months": 12, "point_value": 20,
          "pending_days": 7, "tier_basis": "rolling_12m_points"}');
    SELECT loyalty.update_program('shop', '{"dormant_months": 3, "retain_months": 6}');
    SELECT loyalty.create_program('app', 'App ids', 'EUR',
        '{"member_ids": "application", "allow_negative": true}');

    SELECT loyalty.enroll('shop', 'cust-' || i, '2024-01-01 08:00+08',
                          CASE WHEN i % 3 = 0 THEN date '1990-02-28' + i END,
                          jsonb_build_object('name', 'O''Brien ' || i, 'city', '上海', 'n', i,
                                             'tags', jsonb_build_array('a', i)))
    FROM generate_series(1, 40) i;
    SELECT loyalty.enroll('app', (1000000 + i)::text, '2024-01-02 00:00+00') FROM generate_series(1, 5) i;

    SELECT loyalty.tag_member(loyalty.member('shop', 'cust-' || i), 'vip') FROM generate_series(1, 40, 4) i;
    SELECT loyalty.tag_member(loyalty.member('shop', 'cust-' || i), 'new, "quoted"') FROM generate_series(2, 40, 5) i;
    SELECT loyalty.untag_member(loyalty.member('shop', 'cust-1'), 'vip');

    -- earns: policy expiry, explicit past expiry (booked below), pending, never
    SELECT loyalty.earn(loyalty.member('shop', 'cust-' || i), 200 + i, 'order', 'o-' || i,
                        NULL, NULL, '2024-01-10 12:00+08') FROM generate_series(1, 40) i;
    SELECT loyalty.earn(loyalty.member('shop', 'cust-' || i), 30, 'promo', 'p-' || i,
                        '2024-02-01 00:00+08', NULL, '2024-01-11 00:00+08') FROM generate_series(1, 40, 2) i;
    SELECT loyalty.earn(loyalty.member('shop', 'cust-' || i), 50, 'order', 'pend-' || i,
                        NULL, '2024-04-01 00:00+08', '2024-01-12 00:00+08') FROM generate_series(1, 40, 3) i;
    SELECT loyalty.earn(loyalty.member('shop', 'cust-' || i), 10, 'manual:welcome', 'w-' || i,
                        'infinity', NULL, '2024-01-13 00:00+08') FROM generate_series(1, 40, 7) i;
    SELECT loyalty.spend(loyalty.member('shop', 'cust-' || i), 150, 'mall', 'm-' || i,
                         '2024-01-20 00:00+08') FROM generate_series(1, 40) i;
    SELECT loyalty.transfer_points(loyalty.member('shop', 'cust-' || i), loyalty.member('shop', 'cust-' || (i + 1)),
                                   20, 'gift-' || i, '2024-01-25 00:00+08') FROM generate_series(1, 39, 4) i;
    SELECT loyalty.adjust(loyalty.member('shop', 'cust-' || i), CASE WHEN i % 2 = 0 THEN 15 ELSE -5 END,
                          'support', 'case-' || i, '2024-01-26 00:00+08') FROM generate_series(1, 40, 5) i;
    -- a promotion earned after the spends, expiring before run_expiry's as_of
    SELECT loyalty.earn(loyalty.member('shop', 'cust-' || i), 30, 'promo', 'p2-' || i,
                        '2024-02-01 00:00+08', NULL, '2024-01-21 00:00+08') FROM generate_series(1, 40, 2) i;
    -- full reversals after spending: debt; partial and spend reversals
    SELECT loyalty.reverse(loyalty.member('shop', 'cust-' || i), 'order', 'o-' || i, NULL,
                           '2024-01-28 00:00+08') FROM generate_series(1, 8) i;
    SELECT loyalty.reverse(loyalty.member('shop', 'cust-' || i), 'order', 'o-' || i, 40,
                           '2024-01-29 00:00+08') FROM generate_series(9, 16) i;
    SELECT loyalty.reverse(loyalty.member('shop', 'cust-' || i), 'mall', 'm-' || i, 100,
                           '2024-01-30 00:00+08') FROM generate_series(17, 24) i;

    SELECT loyalty.earn(loyalty.member('app', (1000000 + i)::text), 100, 'order', 'a-' || i,
                        NULL, NULL, '2024-02-01 00:00+00') FROM generate_series(1, 5) i;
    SELECT loyalty.spend(loyalty.member('app', '1000001'), 80, 'mall', 'am-1', '2024-02-02 00:00+00');
    SELECT loyalty.reverse(loyalty.member('app', '1000001'), 'order', 'a-1', NULL, '2024-02-03 00:00+00');
});
# A role limited to programme shop (tenant isolation), to be kept by the restore.
$node->safe_psql($src, q{
    CREATE ROLE tap_shop_app IN ROLE loyalty_app;
    SELECT loyalty.grant_program('tap_shop_app', 'shop');
});
# A committed batch job run (expire entries, job_runs row).
$node->safe_psql($src, q{SET client_min_messages = warning; CALL loyalty.run_expiry('2024-03-01 00:00+00', 7)});

my $facts = $node->safe_psql($src, q{
    SELECT (SELECT count(*) FILTER (WHERE debt > 0) FROM loyalty.member) > 0,
           (SELECT count(*) FILTER (WHERE booked < 0) FROM loyalty.member m
              JOIN loyalty.program p USING (program_id) WHERE p.code = 'app') > 0,
           (SELECT count(*) FROM loyalty.points_entry WHERE operation = 'expire') > 0,
           (SELECT count(*) FROM loyalty.points_lot WHERE available_at > '2024-03-01') > 0,
           (SELECT count(*) FROM loyalty.member_tag) > 0,
           (SELECT count(*) FROM loyalty.job_runs WHERE state = 'done') > 0,
           (SELECT count(DISTINCT action) FROM loyalty.audit_log) >= 3});
is($facts, 't|t|t|t|t|t|t',
    'source has debt, a negative balance, expiries, pending lots, tags, job runs and audit rows');
is($node->safe_psql($src, $verify_sql), 'ok', 'verify() ok in the source');

# ---------------------------------------------------------------------------
# Dump and restore
# ---------------------------------------------------------------------------
my $tables_sql = q{
    SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'loyalty' AND c.relkind IN ('r', 'p')};
my @tables = split /,/, $node->safe_psql($src, $tables_sql);
cmp_ok(scalar(@tables), '>=', 8, 'the loyalty schema has ' . scalar(@tables) . ' tables');

# Whatever pg_dump skips is lost: every table and sequence must be registered
# with pg_extension_config_dump.
is($node->safe_psql($src, q{
        SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'loyalty' AND c.relkind IN ('r', 'p', 'S')
          AND c.oid <> ALL ((SELECT extconfig FROM pg_extension WHERE extname = 'loyalty')::oid[])}),
    '', 'every table and sequence of the schema is dumped (pg_extension_config_dump)');

my $table_state = sub {
    my ($db) = @_;
    my %state;
    for my $t (@tables)
    {
        $state{$t} = $node->safe_psql($db,
            qq{SELECT count(*) || ' ' || COALESCE(md5(string_agg(t::text, ',' ORDER BY t::text)), '-')
               FROM loyalty."$t" t});
    }
    return \%state;
};
my $sequences_sql = q{
    SELECT string_agg(format('%s=%s', sequencename, COALESCE(last_value, 0)), ', ' ORDER BY sequencename)
    FROM pg_sequences WHERE schemaname = 'loyalty'};
my $members_sql = q{
    SELECT string_agg(format('%s/%s: %s', p.code, m.external_id, x.figures), E'\n' ORDER BY p.code, m.external_id)
    FROM loyalty.member m JOIN loyalty.program p USING (program_id)
    CROSS JOIN LATERAL (
        SELECT string_agg(format('points=%s available=%s pending=%s expiring_30d=%s lifetime=%s tier=%s debt=%s',
                                 loyalty.points(m.member_id, t), b.available, b.pending, b.expiring_30d,
                                 b.lifetime_earned, b.tier_points, b.debt), '; ' ORDER BY t) AS figures
        FROM unnest(ARRAY['2024-01-15', '2024-02-15', '2024-06-01', '2025-06-01']::timestamptz[]) t
        CROSS JOIN LATERAL loyalty.balance(m.member_id, t) b) x};

my $src_tables = $table_state->($src);
my $src_sequences = $node->safe_psql($src, $sequences_sql);
my $src_members = $node->safe_psql($src, $members_sql);
my $src_max = $node->safe_psql($src, q{
    -- member ids from the sequence: those of the programme with generated ids
    SELECT (SELECT max(program_id) FROM loyalty.program),
           (SELECT max(member_id) FROM loyalty.member m JOIN loyalty.program p USING (program_id)
             WHERE p.code = 'shop'),
           (SELECT max(entry_id) FROM loyalty.points_entry), (SELECT max(lot_id) FROM loyalty.points_lot),
           (SELECT max(run_id) FROM loyalty.job_runs), (SELECT max(audit_id) FROM loyalty.audit_log)});
my ($max_program, $max_member, $max_entry, $max_lot, $max_run, $max_audit) = split /\|/, $src_max;

my $dump = $node->basedir . '/loyalty.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr($src) ], 'pg_dump -Fc');
$node->safe_psql('postgres', "CREATE DATABASE $dst");
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr($dst), $dump ],
    'pg_restore into a new database');

# ---------------------------------------------------------------------------
# Compare
# ---------------------------------------------------------------------------
is($node->safe_psql($dst, $tables_sql), join(',', @tables), 'the same tables exist after restore');
my $dst_tables = $table_state->($dst);
for my $t (@tables)
{
    is($dst_tables->{$t}, $src_tables->{$t}, "loyalty.$t: same row count and content ($src_tables->{$t})");
}
is($node->safe_psql($dst, $sequences_sql), $src_sequences, 'every sequence restored at its position');
is($node->safe_psql($dst, $verify_sql), 'ok', 'verify() ok after restore');
is($node->safe_psql($dst, $members_sql), $src_members, 'points() and balance() equal for every member');

# The limited role is still limited to shop: its member answers, app's refuses.
my $tenant_sql = q{
    SET ROLE tap_shop_app;
    DO $$ BEGIN
        PERFORM loyalty.points(loyalty.member('app', '1000002'));
        RAISE NOTICE 'app: allowed';
    EXCEPTION WHEN insufficient_privilege OR SQLSTATE 'LY003' THEN
        RAISE NOTICE 'app: refused (%)', SQLSTATE;
    END $$;
    SELECT loyalty.points(loyalty.member('shop', 'cust-2'), '2024-03-01 00:00+00') IS NOT NULL};
my ($tenant_out, $tenant_err) = ('', '');
$node->psql($dst, $tenant_sql, stdout => \$tenant_out, stderr => \$tenant_err);
is($tenant_out, 't', 'the restored limit lets tap_shop_app use programme shop');
like($tenant_err, qr/app: refused \(LY003\)/, 'and not programme app');
is($node->safe_psql($dst, q{SELECT string_agg(g.role::text || ':' || p.code, ',') FROM loyalty.program_grant g
                            JOIN loyalty.program p USING (program_id)}),
   'tap_shop_app:shop', 'the grant is restored by role name');

# New rows after the restore take fresh ids: no collision with restored ones.
my $after = $node->safe_psql($dst, q{
    SET client_min_messages = warning;
    SELECT loyalty.create_program('shop2', 'After restore', 'CNY');
    SELECT loyalty.enroll('shop', 'cust-new', '2024-05-01 00:00+00');
    SELECT loyalty.earn(loyalty.member('shop', 'cust-new'), 70, 'order', 'new-1', NULL, NULL, '2024-05-01 00:00+00');
    SELECT loyalty.earn(loyalty.member('shop', 'cust-1'), 5, 'order', 'new-2', NULL, NULL, '2024-05-01 00:00+00');
    SELECT loyalty.spend(loyalty.member('shop', 'cust-new'), 20, 'mall', 'new-3', '2024-05-02 00:00+00');
    SELECT loyalty.adjust(loyalty.member('shop', 'cust-new'), 3, 'support', 'new-4', '2024-05-03 00:00+00');
    CALL loyalty.run_expiry('2024-05-04 00:00+00', 100);
    SELECT (SELECT max(program_id) FROM loyalty.program), loyalty.member('shop', 'cust-new'),
           (SELECT max(entry_id) FROM loyalty.points_entry), (SELECT max(lot_id) FROM loyalty.points_lot),
           (SELECT max(run_id) FROM loyalty.job_runs), (SELECT max(audit_id) FROM loyalty.audit_log),
           loyalty.points(loyalty.member('shop', 'cust-new'), '2024-05-05 00:00+00')});
my ($new_program, $new_member, $new_entry, $new_lot, $new_run, $new_audit, $new_points) = split /\|/,
  (split /\n/, $after)[-1];
cmp_ok($new_program, '>', $max_program, 'a new programme gets a fresh id');
cmp_ok($new_member, '>', $max_member, 'a new member gets a fresh id');
cmp_ok($new_entry, '>', $max_entry, 'new entries get fresh ids');
cmp_ok($new_lot, '>', $max_lot, 'new lots get fresh ids');
cmp_ok($new_run, '>', $max_run, 'a new job run gets a fresh id');
cmp_ok($new_audit, '>', $max_audit, 'new audit rows get fresh ids');
is($new_points, '53', 'the new member\'s balance is right');
is($node->safe_psql($dst, $verify_sql), 'ok', 'verify() ok after writes to the restored database');

# The source is untouched by all this.
is($node->safe_psql($src, $members_sql), $src_members, 'the source still answers the same');

$node->stop;
done_testing();
