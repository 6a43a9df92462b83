#!/usr/bin/perl
# Crash safety: 100,000 entries, a drain daemon killed with SIGKILL at random moments and
# restarted with the same --consumer, then a final drain --once. Every click must be
# stored exactly once and nothing left pending.
# LINKREPORT_SKIP_FAULT=1 skips this file (for slow builds); it is never skipped silently.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IPC::Run ();
use POSIX ();
use Time::HiRes qw(sleep time);
use LRTest;

plan skip_all => "LINKREPORT_SKIP_FAULT is set: crash test skipped" if $ENV{LINKREPORT_SKIP_FAULT};

setup_isolated('fault');
my $stream = $ENV{LINKREPORT_STREAM};
my $total = $ENV{LINKREPORT_FAULT_ENTRIES} // 100_000;
my $kills = 12;
my $started = time;

# Preload with redis-cli --pipe (RESP), every contract field.
sub resp { my @a = @_; my $s = '*' . @a . "\r\n"; $s .= '$' . length($_) . "\r\n$_\r\n" for @a; $s }
my $proto = '';
for my $i (1 .. $total) {
    my %f = click_fields(city => "city-$i", non_human => ($i % 10 ? '' : 'bot'));
    $proto .= resp('XADD', $stream, '*', map { ($_, $f{$_}) } sort keys %f);
}
my ($out, $err) = ('', '');
IPC::Run::run(['redis-cli', LRTest::redis_args(), '--pipe'], \$proto, \$out, \$err)
    or die "redis-cli --pipe failed: $err";
like($out, qr/errors: 0, replies: $total/, "$total entries added");
undef $proto;

sub rows { return psql('SELECT count(*) FROM clicks') }

my @progress;
for my $k (1 .. $kills) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>', '/dev/null');
        open(STDERR, '>', '/dev/null');
        exec(LRTest::binary(), 'drain', '--block-ms', '200', '--count', '500',
             '--consumer', 'fault-worker') or POSIX::_exit(127);
    }
    # Random moments: early kills land mid-batch or between COMMIT and XACK.
    sleep(0.05 + rand(0.25));
    kill 'KILL', $pid;
    waitpid($pid, 0);
    is($? & 127, 9, "drain $k killed by SIGKILL");
    push @progress, rows();
}
diag("rows after each kill: @progress");
cmp_ok($progress[0], '<', $total, 'the first kill hit a drain still working');

my ($rc, $summary, $e) = lr('drain', '--once', '--consumer', 'fault-worker');
is($rc, 0, 'final drain --once exits 0') or diag($e);
like($summary, qr/^drained: \d+ stored, \d+ duplicates, 0 dead letters$/, 'no dead letters');
is(psql('SELECT count(*) || \' \' || count(DISTINCT click_id) FROM clicks'), "$total $total",
   "exactly $total rows, $total distinct click ids");
is(psql("SELECT count(*) FROM clicks WHERE non_human = 'bot'"), int($total / 10), 'fields intact');
is((split /\n/, redis('XPENDING', $stream, 'linkreport'))[0], 0, 'XPENDING is empty');
is(psql('SELECT count(*) FROM dead_letters'), 0, 'no dead letters stored');
diag(sprintf('fault test took %.1f s', time - $started));
done_testing();
