#!/usr/bin/perl
# drain: stream entries -> clicks rows, idempotent, dead letters, ack only after commit.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IPC::Run ();
use Time::HiRes qw(sleep);
use LRTest;

setup_isolated('drain');
my $stream = $ENV{LINKREPORT_STREAM};

sub pending_count {
    my $out = redis('XPENDING', $stream, 'linkreport');
    return (split /\n/, $out)[0];
}

sub drain_once {
    my ($rc, $out, $err) = lr('drain', '--once', @_);
    is($rc, 0, "drain --once @_ exits 0") or diag($err);
    return $out;
}

# One full entry: every column gets its value.
my %click = click_fields(campaign_name => 'spring, "sale"', user_agent => "UA\twith tab");
my $stream_id = xadd_click(%click);
is(drain_once(), "drained: 1 stored, 0 duplicates, 0 dead letters\n", 'summary line');
my $cols = 'click_id, stream_id, company_id, txtly_id, code, recipient, short_url, mobile_number, client_ip, browser, platform, platform_version, engine, country, city, device_type, long_url, channel, message_id, campaign_name, template_id, user_agent, method';
my $row = psql_rows("SELECT $cols, (extract(epoch FROM visited_on) * 1000)::bigint, extract(epoch FROM created_on)::bigint FROM clicks");
is(scalar @$row, 1, 'one row stored');
my @expect = map { $_ eq 'stream_id' ? $stream_id : $click{$_} } split /, /, $cols;
push @expect, $click{visited_on}, $click{created_on};
is_deeply($row->[0], \@expect, 'every field stored as sent (times converted from Unix ms / s)');
is(pending_count(), 0, 'entry acknowledged');
is(psql("SELECT visited_on = '2024-02-19 09:24:51+00' FROM clicks"), 't', 'visited_on is the right instant');

# Milliseconds kept; empty created_on and txtly_id become NULL.
my $ms_id = new_click_id();
xadd_click(click_fields(click_id => $ms_id, visited_on => '1708387199999', created_on => '', txtly_id => ''));
drain_once();
is(psql("SELECT to_char(visited_on AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') || '|' || coalesce(created_on::text, 'NULL') || '|' || coalesce(txtly_id::text, 'NULL') FROM clicks WHERE click_id = '$ms_id'"),
   '2024-02-19 23:59:59.999|NULL|NULL', 'ms precision kept, empty numbers are NULL');

# The same click_id twice (the edge retried): one row.
my $dup = new_click_id();
xadd_click(click_fields(click_id => $dup, city => 'first'));
xadd_click(click_fields(click_id => $dup, city => 'second'));
is(drain_once(), "drained: 1 stored, 1 duplicates, 0 dead letters\n", 'duplicate counted, not stored');
is(psql("SELECT count(*) || ' ' || min(city) FROM clicks WHERE click_id = '$dup'"), '1 first', 'one row, the first one');
xadd_click(click_fields(click_id => $dup));
is(drain_once(), "drained: 0 stored, 1 duplicates, 0 dead letters\n", 'a late duplicate is also ignored');

# Malformed entries: dead letters with the reason, acknowledged.
my @bad = (
    [{click_id => undef}, 'missing click_id'],
    [{click_id => ''}, 'missing click_id'],
    [{click_id => 'ABCDEF0123456789ABCDEF0123456789'}, 'click_id is not 32 lowercase hex characters'],
    [{click_id => 'abc'}, 'click_id is not 32 lowercase hex characters'],
    [{company_id => undef}, 'missing company_id'],
    [{company_id => ''}, 'missing company_id'],
    [{company_id => 'a b'}, 'company_id is not [A-Za-z0-9_-]{1,64}'],
    [{visited_on => undef}, 'missing visited_on'],
    [{visited_on => 'yesterday'}, 'visited_on is not Unix milliseconds'],
    [{visited_on => '-5'}, 'visited_on is not Unix milliseconds'],
    [{visited_on => '1708334691.5'}, 'visited_on is not Unix milliseconds'],
    [{visited_on => '99999999999999999'}, 'visited_on is not Unix milliseconds'],
);
my %bad_ids;
for my $case (@bad) {
    my $id = xadd_click(click_fields(%{$case->[0]}));
    $bad_ids{$id} = $case->[1];
}
my $good_id = new_click_id();
# argv cannot carry NUL: send this one through redis-cli's own quoting on stdin.
{
    my %f = click_fields(click_id => $good_id, user_agent => 'bad \xff\xfe bytes', city => 'nul\x00byte');
    my $line = join ' ', 'XADD', $stream, '*', map { ($_, qq("$f{$_}")) } sort keys %f;
    my ($o, $e) = ('', '');
    IPC::Run::run(['redis-cli', LRTest::redis_args()], \"$line\n", \$o, \$e) or die $e;
}
is(drain_once(), "drained: 1 stored, 0 duplicates, " . scalar(@bad) . " dead letters\n",
   'malformed entries dead-lettered, the good one in the same batch stored');
my %dead = map { ($_->[0] => $_->[1]) } @{psql_rows("SELECT stream_id, reason FROM dead_letters WHERE stream = '$stream'")};
is_deeply(\%dead, \%bad_ids, 'each dead letter has its stream id and reason');
like(psql("SELECT entry FROM dead_letters WHERE reason = 'missing company_id' LIMIT 1"),
     qr/^\{.*"click_id":"[0-9a-f]{32}"[,}]/, 'dead letter keeps the entry as JSON');
is(psql("SELECT count(*) FROM dead_letters WHERE entry::jsonb ? 'visited_on'"), scalar(@bad) - 1,
   'dead letter entries are valid JSON');
is(pending_count(), 0, 'dead letters acknowledged');
is(psql("SELECT user_agent || '|' || city FROM clicks WHERE click_id = '$good_id'"),
   "bad \x{fffd}\x{fffd} bytes|nul\x{fffd}byte" =~ s/([^\x00-\x7f])/do { use utf8; my $c = $1; utf8::encode($c); $c }/ger,
   'invalid UTF-8 and NUL bytes replaced by U+FFFD');

# Ack only after commit: with the clicks table gone the batch fails, stays pending.
psql('ALTER TABLE clicks RENAME TO clicks_away');
my @held = map { new_click_id() } 1 .. 3;
xadd_click(click_fields(click_id => $_)) for @held;
my ($rc, $out, $err) = lr('drain', '--once', '--consumer', 'worker-1');
is($rc, 69, 'drain --once exits 69 when PostgreSQL fails');
like($err, qr/^linkreport: drain: PostgreSQL error: relation "clicks" does not exist/m, 'says why');
is(pending_count(), 3, 'the batch is still pending (not acknowledged)');
psql('ALTER TABLE clicks_away RENAME TO clicks');
is(psql('SELECT count(*) FROM clicks WHERE click_id IN (' . join(',', map {"'$_'"} @held) . ')'), 0,
   'nothing of the failed batch stored');
is(drain_once('--consumer', 'worker-1'), "drained: 3 stored, 0 duplicates, 0 dead letters\n",
   'the same consumer re-reads its pending entries and stores them');
is(pending_count(), 0, 'now acknowledged');

# A different consumer takes over entries another one left pending.
psql('ALTER TABLE clicks RENAME TO clicks_away');
my $orphan = new_click_id();
xadd_click(click_fields(click_id => $orphan));
($rc) = lr('drain', '--once', '--consumer', 'crashed-worker');
is($rc, 69, 'failing consumer exits 69');
psql('ALTER TABLE clicks_away RENAME TO clicks');
is(drain_once('--consumer', 'other-worker'), "drained: 0 stored, 0 duplicates, 0 dead letters\n",
   'entries pending for another consumer are not taken before --claim-idle-ms');
is(drain_once('--consumer', 'other-worker', '--claim-idle-ms', '0'),
   "drained: 1 stored, 0 duplicates, 0 dead letters\n", 'with --claim-idle-ms 0 they are claimed and stored');
is(pending_count(), 0, 'nothing left pending');

# Batches: --count smaller than the backlog.
my @many = map { new_click_id() } 1 .. 25;
xadd_click(click_fields(click_id => $_)) for @many;
is(drain_once('--count', '7'), "drained: 25 stored, 0 duplicates, 0 dead letters\n", 'several batches');

# Daemon mode: picks up new entries, exits 0 on SIGTERM.
my $pid = open(my $daemon, '-|') // die "fork: $!";
if ($pid == 0) {
    open(STDERR, '>', '/dev/null');
    exec(LRTest::binary(), 'drain', '--block-ms', '200', '--flush-ms', '100', '--consumer', 'daemon') or POSIX::_exit(127);
}
my $live = new_click_id();
xadd_click(click_fields(click_id => $live));
my $seen = 0;
for (1 .. 100) {
    last if ($seen = psql("SELECT count(*) FROM clicks WHERE click_id = '$live'")) == 1;
    sleep 0.1;
}
is($seen, 1, 'daemon stored a new entry');
kill 'TERM', $pid;
my $summary = do { local $/; <$daemon> };
close $daemon;
is($? >> 8, 0, 'daemon exits 0 on SIGTERM');
is($summary, "drained: 1 stored, 0 duplicates, 0 dead letters\n", 'daemon prints its summary');

is(psql('SELECT count(*) FROM clicks'), 2 + 1 + 1 + 3 + 1 + 25 + 1, 'total rows');

done_testing();
