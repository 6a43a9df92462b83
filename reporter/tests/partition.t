#!/usr/bin/perl
# clicks partitioned by month of visited_on (migration 4): partitions made ahead by
# migrate and by the drain, a default partition for any other time, rows moved out of
# the default partition when their month's partition is made, replays stored once
# (through the staging-table fallback), and existing rows moved in by the migration.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use POSIX qw(strftime);
use Test::More;
use LRTest;

setup_isolated('partition');
my $stream = $ENV{LINKREPORT_STREAM};

sub month_name { my ($y, $m) = @_; return sprintf('clicks_%04d_%02d', $y, $m) }
# The month `ahead` months after the current UTC one.
sub month_ahead {
    my ($ahead) = @_;
    my @t = gmtime;
    my $m = $t[4] + $ahead;
    return (1900 + $t[5] + int($m / 12), $m % 12 + 1);
}
sub partitions {
    return psql("SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i"
              . " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'clicks'::regclass");
}
sub partition_of { psql("SELECT tableoid::regclass FROM clicks WHERE click_id = '$_[0]'") }
sub ms_at { my ($y, $m, $d) = @_; return 1000 * POSIX::mktime(0, 0, 12, $d, $m - 1, $y - 1900) }
sub drain_once {
    my ($rc, $out, $err) = lr(@_, 'drain', '--once');
    is($rc, 0, "drain --once exits 0") or diag($err);
    return ($out, $err);
}
local $ENV{TZ} = 'UTC';
POSIX::tzset();

# migrate made this month and the next three, plus the default partition
my @ahead = map { month_name(month_ahead($_)) } 0 .. 3;
is(partitions(), join(',', sort(@ahead, 'clicks_default')), 'this month, three ahead, default');
is(psql("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'clicks'::regclass"), 'r',
   'partitioned by range');
is(psql("SELECT pg_get_partkeydef('clicks'::regclass)"), 'RANGE (visited_on)', 'on visited_on');
my ($y1, $m1) = month_ahead(1);
like(psql("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = '" . month_name($y1, $m1) . "'"),
     qr/^FOR VALUES FROM \('\Q@{[sprintf '%04d-%02d-01', $y1, $m1]}\E 00:00:00\+00'\) TO /,
     'a partition covers one UTC month');
is(psql("SELECT count(*) FROM pg_indexes WHERE tablename = '" . month_name($y1, $m1) . "'"), 2,
   'each partition has the primary key and the company/period index');

# A click next month, one in 1970 and one in year 9000: all stored.
my %next = click_fields(visited_on => ms_at($y1, $m1, 15));
my %past = click_fields(visited_on => '1000');
my %future = click_fields(visited_on => ms_at(9000, 6, 1));
xadd_click(%$_) for \%next, \%past, \%future;
my ($out) = drain_once();
is($out, "drained: 3 stored, 0 duplicates, 0 dead letters\n", 'three clicks stored');
is(partition_of($next{click_id}), month_name($y1, $m1), 'next month: its partition');
is(partition_of($past{click_id}), 'clicks_default', '1970: the default partition');
is(partition_of($future{click_id}), 'clicks_default', 'year 9000: the default partition');
is(psql("SELECT (extract(epoch FROM visited_on) * 1000)::bigint FROM clicks WHERE click_id = '$future{click_id}'"),
   $future{visited_on}, 'visited_on exact (binary COPY)');

# A replayed click (re-delivery after a crash, or an edge's spool replay) is stored once:
# the batch's direct COPY meets the stored key and the batch falls back to the staging
# table, where ON CONFLICT skips it and the batch's new clicks are stored.
my @new = map { { click_fields(visited_on => ms_at($y1, $m1, 20)) } } 1 .. 5;
xadd_click(%$_) for $new[0], $new[1];
xadd_click(%next, city => 'replayed');
xadd_click(%$_) for @new[2 .. 4];
my $err;
($out, $err) = drain_once();
is($out, "drained: 5 stored, 1 duplicates, 0 dead letters\n", 'replay: 5 new stored, 1 duplicate');
like($err, qr/1 of a batch of 6 clicks were stored already .*staging table/, 'the batch took the fallback');
is(psql("SELECT count(*) || ' ' || min(city) FROM clicks WHERE click_id = '$next{click_id}'"), '1 Bengaluru',
   'the replayed click: one row, the first one');
is(psql('SELECT count(*) FROM clicks WHERE click_id IN (' . join(',', map {"'$_->{click_id}'"} @new) . ')'), 5,
   'the batch\'s new clicks are stored');
($out, $err) = drain_once();
is($out, "drained: 0 stored, 0 duplicates, 0 dead letters\n", 'nothing left pending');
# a replay of a click stored in the default partition too
xadd_click(%past);
($out, $err) = drain_once();
is($out, "drained: 0 stored, 1 duplicates, 0 dead letters\n", 'replay in the default partition: a duplicate');
is(psql("SELECT count(*) FROM clicks WHERE click_id = '$past{click_id}'"), 1, 'stored once');
# the fast path says nothing
xadd_click(click_fields(visited_on => ms_at($y1, $m1, 21)));
($out, $err) = drain_once();
is($out, "drained: 1 stored, 0 duplicates, 0 dead letters\n", 'a new click');
is($err, '', 'the fast path is quiet');

# A month far ahead: its click waits in the default partition; making the partition
# (migrate with a clock in that month's past, then the drain with one in it) moves it.
my %later = click_fields(visited_on => ms_at(2090, 5, 3));
my %later2 = click_fields(visited_on => ms_at(2090, 8, 31));
xadd_click(%$_) for \%later, \%later2;
drain_once();
is(partition_of($later{click_id}), 'clicks_default', '2090-05: the default partition first');
$out = lr_ok('--now', '2090-04-10T00:00:00Z', 'migrate');
like($out, qr/\(4 made\)/, 'migrate in 2090-04 makes 2090-04 .. 2090-07');
is(partition_of($later{click_id}), 'clicks_2090_05', 'the row moved into its partition');
is(partition_of($later2{click_id}), 'clicks_default', '2090-08 is still beyond');
is(psql("SELECT count(*) FROM clicks_default WHERE visited_on >= '2090-05-01Z' AND visited_on < '2090-06-01Z'"), 0,
   'the default partition has no 2090-05 row left');
drain_once('--now', '2090-08-01T10:00:00Z');
is(partition_of($later2{click_id}), 'clicks_2090_08', 'the drain makes its months ahead too');
like(partitions(), qr/clicks_2090_11/, 'up to three months after the drain\'s month');
is(psql('SELECT count(*) FROM clicks'), 3 + 5 + 1 + 2, 'no row lost or doubled by the moves');
# the same click again after its move: still a duplicate
xadd_click(%later);
($out) = drain_once();
is($out, "drained: 0 stored, 1 duplicates, 0 dead letters\n", 'a moved click replayed is a duplicate');

# Reports read the partitions: a report over next month finds the clicks stored there.
lr_ok('company', 'create', '--id', 'acme', '--name', 'Acme', '--timezone', 'UTC',
      '--owner-email', 'ops@example.com');
my $from = sprintf('%04d-%02d-01', $y1, $m1);
my $to = sprintf('%04d-%02d-28', $y1, $m1);
my $csv = lr_ok('report', '--company', 'acme', '--from', $from, '--to', $to);
is(scalar(() = $csv =~ /\r\n/g) - 1, 1 + 5 + 1, 'the report sees next month\'s clicks');

# Migration 4 on a version 3 database moves the existing rows in. The version 3 table is
# rebuilt here: an unpartitioned clicks with PRIMARY KEY (click_id).
psql('DROP TABLE clicks; DROP FUNCTION linkreport_ensure_click_partitions, linkreport_click_partition;'
   . ' DELETE FROM schema_migrations WHERE version = 4;');
psql("CREATE TABLE clicks (click_id text PRIMARY KEY, stream_id text NOT NULL, company_id text NOT NULL,"
   . " txtly_id bigint, code text, recipient text, short_url text, mobile_number text, client_ip text,"
   . " browser text, platform text, platform_version text, engine text, country text, city text,"
   . " visited_on timestamptz NOT NULL, device_type text, created_on timestamptz, long_url text,"
   . " channel text, message_id text, campaign_name text, template_id text, user_agent text, method text,"
   . " stored_at timestamptz NOT NULL DEFAULT now(), non_human text NOT NULL DEFAULT '');"
   . " CREATE INDEX clicks_company_visited_on ON clicks (company_id, visited_on);"
   . " INSERT INTO clicks (click_id, stream_id, company_id, visited_on, city)"
   . " SELECT md5(i::text), '1-' || i, 'acme', now() - i * interval '11 days', 'c' || i FROM generate_series(1, 60) i;"
   . " INSERT INTO clicks (click_id, stream_id, company_id, visited_on) VALUES ('old', '1-0', 'acme', '1971-01-01Z');");
my $sum = psql("SELECT md5(string_agg(click_id || visited_on || coalesce(city, ''), ',' ORDER BY click_id)) FROM clicks");
$out = lr_ok('migrate');
like($out, qr/^migrate: schema at version 5 \(1 applied\)$/m, 'migration 4 applied to a version 3 table');
is(psql("SELECT md5(string_agg(click_id || visited_on || coalesce(city, ''), ',' ORDER BY click_id)) FROM clicks"),
   $sum, 'every row moved, unchanged');
is(psql("SELECT count(*) FROM clicks_default"), 1, 'only the 1971 row in the default partition');
my $months = psql("SELECT count(DISTINCT date_trunc('month', visited_on AT TIME ZONE 'UTC')) FROM clicks WHERE click_id <> 'old'");
is(psql("SELECT count(DISTINCT tableoid) FROM clicks WHERE click_id <> 'old'"), $months,
   'one partition per month of the existing rows');
is(psql("SELECT count(*) FROM pg_class WHERE relname LIKE 'clicks_v3%'"), 0, 'the old table is gone');

done_testing();
