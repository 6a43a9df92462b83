#!/usr/bin/perl
# GET /metrics of the drain daemon: counters follow what is stored, gauges follow the
# stream; hostile requests (binary garbage, huge header, slowloris, wrong method or path)
# get clear answers and never stall the drain; Redis or PostgreSQL down show as such.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use IO::Socket::INET ();
use IPC::Run ();
use File::Temp ();
use LRTest;
use LROps;

setup_isolated('metrics');
my $stream = $ENV{LINKREPORT_STREAM};
my $port = metrics_port(1);
sub rows { psql('SELECT count(*) FROM clicks') }

my $d = daemon('drain', '--metrics-listen', "127.0.0.1:$port", '--block-ms', '200',
               '--count', '100', '--consumer', 'm1');
my $m = wait_until(10, sub { scrape($port) }, $d);
ok($m, 'the endpoint answers') or BAIL_OUT('no metrics endpoint: ' . ${ $d->{err} });
is($m->{linkreport_clicks_stored_total}, 0, 'nothing stored yet');
is($m->{linkreport_last_batch_timestamp_seconds}, '0.000', 'no batch yet');
$m = wait_until(5, sub { my $s = scrape($port); $s && $s->{linkreport_redis_up} ? $s : undef }, $d);
is($m->{linkreport_redis_up}, 1, 'Redis up');
is($m->{linkreport_postgres_up}, 1, 'PostgreSQL up');
is($m->{linkreport_stream_info_ok}, 1, 'stream state read');

# 1000 clicks, 3 of them sent twice, 2 malformed entries
my $dup = new_click_id();
my %dup = click_fields(click_id => $dup);
my @twice = map { [%dup] } 1 .. 4;    # one stored, three duplicates
load_clicks($stream, 999, @twice, [foo => 'bar'], [click_id => 'nothex', company_id => 'a']);
my $added = 999 + 4 + 2;
is(wait_until(60, sub { rows() >= 1000 ? rows() : 0 }, $d), 1000, 'the drain stored 1000 clicks');
my $t_stored = time;
$m = wait_until(10, sub { my $s = scrape($port); $s && $s->{linkreport_dead_letters_total} == 2 ? $s : undef }, $d);
is($m->{linkreport_clicks_stored_total}, 1000, 'clicks_stored_total = 1000');
is($m->{linkreport_duplicates_skipped_total}, 3, 'duplicates_skipped_total = 3');
is($m->{linkreport_dead_letters_total}, 2, 'dead_letters_total = 2');
cmp_ok($m->{linkreport_batches_total}, '>=', 11, "batches_total >= 11 ($m->{linkreport_batches_total}, 100 a batch)");
cmp_ok(abs($m->{linkreport_last_batch_timestamp_seconds} - $t_stored), '<', 30, 'last batch time is now');
my $len = $m->{qq(linkreport_stream_length{stream="$stream"})};
ok(defined $len, 'stream length gauge');
is($m->{linkreport_stream_trimmed_total} + $len, $added, "trimmed ($m->{linkreport_stream_trimmed_total}) + left in the stream ($len) = added");
cmp_ok($m->{linkreport_stream_trimmed_total}, '>', 0, 'the drain trimmed the stream');
is($m->{qq(linkreport_stream_group_pending{stream="$stream",group="linkreport"})}, 0, 'nothing pending');
is($m->{qq(linkreport_stream_group_lag{stream="$stream",group="linkreport"})}, 0, 'no lag');
is($m->{linkreport_redis_errors_total} + $m->{linkreport_postgres_errors_total}, 0, 'no errors');

# a second group that has read nothing: its lag is the whole stream; reading 5 makes them pending
redis('XGROUP', 'CREATE', $stream, 'other', '0');
redis('XREADGROUP', 'GROUP', 'other', 'o1', 'COUNT', '5', 'STREAMS', $stream, '>');
$m = scrape($port);
is($m->{qq(linkreport_stream_group_pending{stream="$stream",group="other"})}, 5, 'pending per group');
is($m->{qq(linkreport_stream_group_lag{stream="$stream",group="other"})}, $len - 5, 'lag per group');

# --- hostile and wrong requests
my ($a, $secs) = http($port, "\x00\xff\x16\x03\x01garbage\r\n\r\n");
like($a, qr{^HTTP/1\.1 400 Bad Request\r\n}, 'binary garbage: 400');
cmp_ok($secs, '<', 2, 'answered at once, not at the timeout');
($a) = http($port, "HELLO\r\n\r\n");
like($a, qr{^HTTP/1\.1 400 }, 'not a request line: 400');
($a) = http($port, "GET /metrics HTTP/9.9\r\n\r\n");
like($a, qr{^HTTP/1\.1 400 }, 'unknown HTTP version: 400');
($a) = http($port, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " . ('a' x 100_000) . "\r\n\r\n");
like($a, qr{^HTTP/1\.1 431 Request Header Fields Too Large\r\n}, 'a 100 kB header: 431');
($a) = http($port, 'GET /' . ('a' x 9000) . " HTTP/1.1\r\n\r\n");
like($a, qr{^HTTP/1\.1 414 }, 'a 9 kB request line: 414');
($a) = http($port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
like($a, qr{^HTTP/1\.1 405 Method Not Allowed\r\n}, 'POST: 405');
like($a, qr{\r\nAllow: GET, HEAD\r\n}, 'with Allow');
($a) = http($port, "GET /other HTTP/1.1\r\n\r\n");
like($a, qr{^HTTP/1\.1 404 Not Found\r\n}, 'another path: 404');
($a) = http($port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
like($a, qr{^HTTP/1\.1 200 OK\r\n}, 'a query string is ignored, HTTP/1.0 is fine');
like($a, qr{\r\nContent-Type: text/plain; version=0\.0\.4; charset=utf-8\r\n}, 'Prometheus content type');
like($a, qr{^# TYPE linkreport_clicks_stored_total counter$}m, 'TYPE lines');
($a) = http($port, "HEAD /metrics HTTP/1.1\r\n\r\n");
like($a, qr{^HTTP/1\.1 200 OK\r\n.*\r\n\r\n\z}s, 'HEAD: headers only');

# slowloris: every connection slot held by clients trickling a header; the drain goes on
my @slow;
for (1 .. 10) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp') or last;
    syswrite($s, "GET /metrics HTTP/1.1\r\n");
    push @slow, $s;
}
is(scalar @slow, 10, 'ten slow clients connected (8 slots, the rest wait in the backlog)');
my $t0 = time;
load_clicks($stream, 500);
for my $i (1 .. 10) {
    syswrite($_, "X-$i: y\r\n") for @slow;
    last if rows() >= 1500;
    sleep 0.2;
}
is(wait_until(20, sub { rows() >= 1500 ? rows() : 0 }, $d), 1500, 'the drain stored 500 more while the slots were held');
cmp_ok(time - $t0, '<', 4.5, 'before the slow clients timed out (5 s)');
# each slow client gets 408 at its deadline; then the endpoint serves again
my $answer = '';
my $rin = '';
vec($rin, fileno($slow[0]), 1) = 1;
select(my $rout = $rin, undef, undef, 8);
sysread($slow[0], $answer, 4096);
like($answer, qr{^HTTP/1\.1 408 Request Timeout\r\n}, 'a slow client: 408 after 5 s');
close $_ for @slow;
$m = wait_until(15, sub { scrape($port) }, $d);
ok($m, 'the endpoint serves again');
is($m->{linkreport_clicks_stored_total}, 1500, 'clicks_stored_total = 1500');
cmp_ok($m->{linkreport_metrics_http_errors_total}, '>=', 9, "refused requests counted ($m->{linkreport_metrics_http_errors_total})");

# the port is taken: a second daemon refuses to start
my ($rc, $out, $err) = lr('drain', '--metrics-listen', "127.0.0.1:$port", '--consumer', 'm2');
is($rc, 64, 'metrics port in use: 64');
like($err, qr/^linkreport: drain: cannot listen for metrics on 127\.0\.0\.1:$port: Address already in use$/m, 'says why');
($rc, $out, $err) = lr('drain', '--once', '--metrics-listen', 'localhost:x');
is($rc, 64, 'malformed --metrics-listen: 64 (even with --once)');
like($err, qr/--metrics-listen\/LINKREPORT_METRICS_LISTEN must be PORT/, 'says why');

my ($status, $sout, $serr) = stop_daemon($d);
is($status, 0, 'SIGTERM: exit 0 with the metrics thread running');
like($sout, qr/^drained: 1500 stored, 3 duplicates, 2 dead letters$/m, 'its summary agrees with the counters');

# --- Redis or PostgreSQL down: errors counted, up gauges at 0
for my $case (['redis', ['--redis', '127.0.0.1:1']],
              ['postgres', ['--db', 'postgresql://postgres@127.0.0.1:1/none']]) {
    my ($service, $args) = @$case;
    my $dd = daemon(@$args, 'drain', '--metrics-listen', "127.0.0.1:$port", '--consumer', 'm3');
    my $mm = wait_until(10, sub { my $s = scrape($port); $s && $s->{"linkreport_${service}_errors_total"} >= 2 ? $s : undef }, $dd);
    ok($mm, "$service down: errors counted") or diag(${ $dd->{err} });
    is($mm->{"linkreport_${service}_up"}, 0, "$service down: ${service}_up 0");
    my $other = $service eq 'redis' ? 'postgres' : 'redis';
    is($mm->{"linkreport_${other}_errors_total"}, 0, "not blamed on $other");
    # (with PostgreSQL down the drain does not contact Redis: redis_up says nothing then)
    my ($st) = stop_daemon($dd);
    is($st, 0, "$service down: SIGTERM exits 0");
}

# --- Redis comes up after the daemon: an outage, then recovered (a Redis of this test's
# own on a unix socket, so the shared one stays untouched)
{
    my $sock = File::Temp::tempdir(CLEANUP => 1) . '/redis.sock';
    my $dd = daemon('--redis', "unix:$sock", 'drain', '--metrics-listen', "127.0.0.1:$port",
                    '--consumer', 'm4', '--block-ms', '200');
    my $mm = wait_until(10, sub { my $s = scrape($port); $s && $s->{linkreport_redis_errors_total} >= 1 ? $s : undef }, $dd);
    is($mm->{linkreport_redis_up}, 0, 'no Redis yet: redis_up 0');
    my ($rin, $rout, $rerr) = ('', '', '');
    my $redis = IPC::Run::start(['redis-server', '--port', '0', '--unixsocket', $sock, '--save', '',
                                 '--appendonly', 'no'], \$rin, \$rout, \$rerr);
    $mm = wait_until(40, sub { my $s = scrape($port); $s && $s->{linkreport_redis_up} ? $s : undef }, $dd);
    ok($mm, 'Redis started: redis_up 1') or diag(${ $dd->{err} });
    is($mm->{linkreport_postgres_up}, 1, 'and PostgreSQL up');
    my ($st, undef, $derr) = stop_daemon($dd);
    is($st, 0, 'exit 0');
    $redis->signal('TERM');
    $redis->finish;
    like($derr, qr/level=error event=outage service=redis\n(?:.*\n)*.*level=info event=recovered service=redis$/m,
         'logged: outage, then recovered');
    is(scalar(() = $derr =~ /event=outage/g), 1, 'one outage however many retries');
}

done_testing();
