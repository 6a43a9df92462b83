#!/usr/bin/perl
# Several Redis servers, one per edge region (LINKREPORT_REDIS="A,B"): links published to
# every one, one drain reading all of them (each click stored once), one server down
# while the other keeps flowing, and the down one's clicks stored once it is back.
# The second server is started here (port LR_REDIS_PORT2, default 6386) with an
# append-only file, so that its stream survives the restart, and stopped at the end.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use IPC::Run ();
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);
use LRTest;
use LROps;

setup_isolated('regions');
my $stream = $ENV{LINKREPORT_STREAM};
my $r1 = $ENV{LINKREPORT_REDIS} // '127.0.0.1:6379';
my $port2 = $ENV{LR_REDIS_PORT2} // 6386;
my $r2 = "127.0.0.1:$port2";
my $dir = tempdir('lr-regions-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub redis2 {
    my ($out, $err) = ('', '');
    IPC::Run::run(['redis-cli', '-p', $port2, @_], \(my $in = ''), \$out, \$err) or die "redis-cli: $err";
    chomp $out;
    return $out;
}
sub start2 {
    system('redis-server', '--bind', '127.0.0.1', '--port', $port2, '--save', '', '--appendonly', 'yes',
           '--appendfsync', 'always', '--dir', $dir, '--daemonize', 'yes', '--pidfile', "$dir/redis.pid",
           '--logfile', "$dir/redis.log") == 0 or die 'cannot start the second redis-server';
    for (1 .. 50) { last if eval { redis2('PING') eq 'PONG' }; sleep 0.1 }
    die 'the second redis-server does not answer' unless redis2('PING') eq 'PONG';
}
sub stop2 {
    return unless -f "$dir/redis.pid";
    open(my $fh, '<', "$dir/redis.pid") or return;
    chomp(my $pid = <$fh> // '');
    return unless $pid =~ /^\d+$/;
    kill 'TERM', $pid; # SIGTERM: redis-server writes the append-only file and exits
    for (1 .. 100) { last unless kill 0, $pid; sleep 0.05 }
}
END { stop2() }

# The port must be free: never write to (or stop) a server this test did not start.
die "port $port2 already has a Redis server; set LR_REDIS_PORT2 to a free port\n"
    if eval { redis2('PING') eq 'PONG' };
start2();
# (LINKREPORT_REDIS stays the first server for the helpers' redis-cli; the binary gets
# the list with --redis)
my @both = ('--redis', "$r1,$r2");
sub rows { psql('SELECT count(*) FROM clicks') }

# Links go to every listed server: each region's edge must resolve them.
lr_ok(@both, 'company', 'create', '--id', 'acme', '--name', 'Acme', '--timezone', 'UTC', '--owner-email', 'ops@example.com');
my ($code) = lr_ok(@both, 'link', 'create', '--company', 'acme', '--long-url', 'https://acme.example/a', '--slug', 'both')
    =~ m{/(both)$}m;
is($code, 'both', 'link created');
my $key = "$ENV{LINKREPORT_KEY_PREFIX}both";
my $h1 = redis_hash($key);
is(redis2('HGET', $key, 'long_url'), 'https://acme.example/a', 'published to the second server');
is(redis2('HGET', $key, 'txtly_id'), $h1->{txtly_id}, 'the same link on both');
lr_ok(@both, 'link', 'publish', '--code', 'both');

# Clicks on both servers; the same stream ids on both (each server numbers its own).
for my $i (1 .. 30) { redis('XADD', $stream, "1000-$i", click_fields()) }
for my $i (1 .. 20) { redis2('XADD', $stream, "1000-$i", click_fields()) }
redis('XADD', $stream, '1000-31', click_fields(company_id => undef));
redis2('XADD', $stream, '1000-31', click_fields(company_id => undef));
my ($rc, $out, $err) = lr(@both, 'drain', '--once', '--count', '7', '--consumer', 'w');
is($rc, 0, 'drain --once over two servers exits 0') or diag($err);
is($out, "drained: 50 stored, 0 duplicates, 2 dead letters\n", 'clicks from both stored once');
is(rows(), 50, '50 rows');
is(psql("SELECT string_agg(stream, ',' ORDER BY stream) FROM dead_letters"),
   join(',', sort("$stream\@$r1", "$stream\@$r2")),
   'a dead letter per server (the stream is named with its server)');
for ([$r1, \&redis], [$r2, \&redis2]) {
    my ($addr, $cli) = @$_;
    is((split /\n/, $cli->('XPENDING', $stream, 'linkreport'))[0], 0, "nothing pending on $addr");
}
($rc, $out, $err) = lr(@both, 'status', '--drain');
is($rc, 0, 'status --drain exits 0') or diag($err);
like($out, qr/^redis\t\Q$r1\E\nstream\t\Q$stream\E\tlength\t\d+\ngroup\tlinkreport\t/m, 'status: the first server');
like($out, qr/^redis\t\Q$r2\E\nstream\t\Q$stream\E\tlength\t\d+\ngroup\tlinkreport\t/m, 'status: the second server');
like($out, qr/^dead_letters\t2$/m, 'status: both servers\' dead letters');

# /metrics: the stream's series per server, labelled with its address.
{
    my $mport = metrics_port(7);
    my $md = daemon(@both, 'drain', '--metrics-listen', "127.0.0.1:$mport", '--block-ms', '200',
                    '--consumer', 'mx');
    my $m = wait_until(10, sub { my $x = scrape($mport); $x && $x->{linkreport_stream_info_ok} ? $x : undef }, $md);
    is($m && $m->{linkreport_stream_info_ok}, 1, 'metrics: both servers read');
    for ([$r1, \&redis], [$r2, \&redis2]) {
        my ($addr, $cli) = @$_;
        is($m && $m->{qq(linkreport_stream_length{stream="$stream",redis="$addr"})}, $cli->('XLEN', $stream),
           "metrics: stream length of $addr");
        is($m && $m->{qq(linkreport_stream_group_pending{stream="$stream",redis="$addr",group="linkreport"})}, 0,
           "metrics: nothing pending on $addr");
    }
    my ($mst) = stop_daemon($md);
    is($mst, 0, 'metrics daemon exits 0');
}

# Second server down: --once drains the first and exits 69.
redis2('XADD', $stream, '*', click_fields(city => 'waited')) for 1 .. 5;
stop2();
redis('XADD', $stream, '*', click_fields()) for 1 .. 10;
($rc, $out, $err) = lr(@both, 'drain', '--once', '--consumer', 'w');
is($rc, 69, 'one server down: drain --once exits 69');
like($err, qr/cannot connect to Redis at \Q$r2\E/, 'names the server that is down');
is($out, "drained: 10 stored, 0 duplicates, 0 dead letters\n", 'the other server\'s clicks are stored');
($rc, $out, $err) = lr(@both, 'status', '--drain');
is($rc, 69, 'status --drain: 69 with a server down');
like($out, qr/^redis\t\Q$r1\E\nstream\t/m, '... and still shows the other one');

# Republishing with the second server down: the first still gets every link (the repair
# of one region must not wait for another).
redis('DEL', $key);
($rc, $out, $err) = lr(@both, 'link', 'publish', '--all');
is($rc, 69, 'publish --all with a server down: 69');
like($err, qr/cannot connect to Redis at \Q$r2\E: .*; nothing published there/, '... naming it');
like($out, qr/^published: \d+ links to each Redis server that answered$/m, '... and counting the others');
is(redis('HGET', $key, 'long_url'), 'https://acme.example/a', 'the reachable server has the link again');

# The daemon, with the second server down: the first keeps flowing; once the second
# returns, its clicks (kept in its append-only file) arrive.
my $pid = open(my $daemon, '-|') // die "fork: $!";
if ($pid == 0) {
    open(STDERR, '>', "$dir/daemon.err");
    exec(LRTest::binary(), @both, 'drain', '--block-ms', '1000', '--consumer', 'w') or POSIX::_exit(127);
}
sub daemon_err {
    my $text = '';
    if (open(my $fh, '<', "$dir/daemon.err")) { local $/; $text = <$fh> // '' }
    return $text;
}
# first the daemon finds the second server down (and says it will retry)
for (1 .. 100) { last if daemon_err() =~ /retrying/; sleep 0.1 }
like(daemon_err(), qr/event=retry service=redis server=\Q$r2\E backoff_ms=\d+/,
     'the daemon sets the down server aside');
redis('XADD', $stream, '*', click_fields()) for 1 .. 4;
my $n = 0;
for (1 .. 100) { last if ($n = rows()) == 64; sleep 0.1 }
is($n, 64, 'server down: the other one\'s clicks keep flowing');
start2();
is(redis2('XLEN', $stream) >= 5, 1, 'the second server kept its stream');
for (1 .. 150) { last if ($n = rows()) == 69; sleep 0.1 }
is($n, 69, 'the second server back: its clicks arrive');
is(psql("SELECT count(*) FROM clicks WHERE city = 'waited'"), 5, 'each of them once');
redis2('XADD', $stream, '*', click_fields()) for 1 .. 3;
for (1 .. 100) { last if ($n = rows()) == 72; sleep 0.1 }
is($n, 72, 'and new ones follow');
kill 'TERM', $pid;
my $summary = do { local $/; <$daemon> };
close $daemon;
is($? >> 8, 0, 'daemon exits 0 on SIGTERM');
like($summary, qr/^drained: 12 stored, 0 duplicates, 0 dead letters$/m, 'daemon summary');
unlike(daemon_err(), qr/PostgreSQL/, 'PostgreSQL was never in question');
is((split /\n/, redis2('XPENDING', $stream, 'linkreport'))[0], 0, 'nothing pending on the second server');

# One server only (the usual setup): Redis down when the daemon starts, then back; the
# daemon waits for it by itself (PostgreSQL stays connected).
stop2();
$pid = open($daemon, '-|') // die "fork: $!";
if ($pid == 0) {
    open(STDERR, '>', "$dir/daemon.err");
    exec(LRTest::binary(), '--redis', $r2, 'drain', '--block-ms', '300', '--consumer', 'w')
        or POSIX::_exit(127);
}
for (1 .. 100) { last if daemon_err() =~ /retrying/; sleep 0.1 }
like(daemon_err(), qr/cannot connect to Redis at \Q$r2\E(?s:.*?)event=retry service=redis server=\Q$r2\E backoff_ms=500/,
     'one server down: the daemon says it retries');
start2();
redis2('XADD', $stream, '*', click_fields()) for 1 .. 2;
for (1 .. 150) { last if ($n = rows()) == 74; sleep 0.1 }
is($n, 74, 'the server back: its new clicks are stored');
kill 'TERM', $pid;
$summary = do { local $/; <$daemon> };
close $daemon;
is($? >> 8, 0, 'daemon exits 0 on SIGTERM');
like($summary, qr/^drained: 2 stored, 0 duplicates, 0 dead letters$/m, 'one-server daemon summary');

# One address of the list malformed, or repeated: usage errors.
($rc, $out, $err) = lr('drain', '--once', '--redis', "$r1,");
is($rc, 64, 'an empty address in the list: 64');
($rc, $out, $err) = lr('drain', '--once', '--redis', "$r1,$r1");
is($rc, 64, 'a repeated address: 64');
($rc, $out, $err) = lr('link', 'publish', '--code', 'both', '--redis', "$r1,redis://u:secret\@h:1");
is($rc, 64, 'a redis:// URL in the list: 64');
unlike($err, qr/secret/, 'never echoed');

done_testing();
