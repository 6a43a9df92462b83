# Zero-loss click delivery: while Redis is down, records wait in the spool folder and
# are replayed when it is back; a full spool still serves the redirect and says what it
# lost; files left by a crashed worker are taken over and replayed.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use LinkReport::Test;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use Test::More ();
use IO::Socket::INET;

repeat_each(1);
no_shuffle();

our $Port = ($ENV{LR_REDIS_PORT} || 6390) + 51;
our $Run = tempdir(CLEANUP => 1);
our $Spool = "$Run/spool";
mkdir $Spool;
our $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 5 : 1;

# this suite's own Redis, which it stops and starts; its data survives a restart
sub own_redis_start {
    system("redis-server --bind 127.0.0.1 --port $Port --save '' --appendonly no "
         . "--dbfilename dump.rdb --daemonize yes --pidfile $Run/redis.pid "
         . "--logfile $Run/redis.log --dir $Run") == 0 or die "cannot start redis";
    for (1 .. 50) { last if `redis-cli -p $Port ping 2>/dev/null` =~ /PONG/; sleep 0.1 }
}
sub own_redis { my $cmd = join ' ', map { "'$_'" } @_; my $out = `redis-cli -p $Port $cmd`; chomp $out; $out }
sub own_redis_stop { system("redis-cli -p $Port shutdown save >/dev/null 2>&1"); sleep 0.3 }
own_redis_start();
END { system("redis-cli -p $Port shutdown nosave >/dev/null 2>&1") }

our $Link = { long_url => 'https://example.com/sp', short_url => 'http://klr.bz/sp',
              txtly_id => '21', company_id => 'Zs', created_on => '1700000000' };

sub log_like {
    my ($re, $name) = @_;
    open my $fh, '<', $Test::Nginx::Util::ErrLogFile or die "error log: $!";
    my $log = do { local $/; <$fh> };
    Test::More::like($log, $re, $name);
}

sub spool_files { opendir my $d, $Spool or die $!; grep { !/^\./ } readdir $d }

# waits until the stream holds at least $want entries; returns the click ids
sub stream_click_ids {
    my ($stream, $want) = @_;
    my @ids;
    for (1 .. 100 * $Slow) {
        # a record's value starts "2\tCLICK_ID\t"; TEST 3's hand-made entries are
        # field/value pairs, whose click_id value is a line of its own
        @ids = map { /^(?:2\t)?([0-9a-f]{32})(?:\t|$)/ ? $1 : () } split /\n/,
            `redis-cli -p $Port --raw XRANGE $stream - +`;
        last if @ids >= $want;
        sleep 0.1;
    }
    return @ids;
}


add_block_preprocessor(sub {
    my $block = shift;
    my $size = $block->spool_size // '1m';
    $block->set_value('http_config', <<"_EOC_") unless defined $block->http_config;
    linkreport_redis 127.0.0.1:$main::Port;
    linkreport_redis_timeout 300ms;
    linkreport_stream t:clicks:spool;
    linkreport_cache zone=links:1m ttl=60s;
    linkreport_spool $main::Spool size=$size;
_EOC_
    $block->set_value('config', "    location / { linkreport; }\n")
        unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: Redis stopped and started between taps: every click reaches the stream
--- init
main::own_redis('DEL', 't:clicks:spool');
main::own_redis('HSET', 'linkreport:link:sp', %$main::Link);
--- request eval
[ ("GET /sp") x 6 ]
--- between eval
[
  "Time::HiRes::sleep(0.3 * \$main::Slow); main::own_redis_stop()",
  "", "", "", "",
  q{
    Test::More::ok(scalar(grep { /^active-/ } main::spool_files()), 'taps while Redis is down are spooled');
    main::own_redis_start();
    my @ids = main::stream_click_ids('t:clicks:spool', 6);
    my %distinct = map { $_ => 1 } @ids;
    Test::More::is(scalar(keys %distinct), 6, 'six taps, six distinct click records in the stream');
    Time::HiRes::sleep(0.5 * $main::Slow);
    Test::More::is(join(',', main::spool_files()), '', 'the spool is empty once replayed');
    main::log_like(qr/spooled click records replayed to redis/, 'the replay is logged');
  },
]
--- error_code eval
[ (302) x 6 ]



=== TEST 1b: taps of one event-loop cycle share one entry, also through the spool
--- init
main::own_redis('DEL', 't:clicks:spool');
main::own_redis('HSET', 'linkreport:link:sp', %$main::Link);
--- config
    location / { linkreport; }
    location = /st { linkreport_status; }
--- request eval
[ "GET /sp", "GET /st" ]
--- between eval
[ q{
    Time::HiRes::sleep(0.3 * $main::Slow);
    main::own_redis_stop();
    # five requests in one write: nginx answers them in one read event
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$Test::Nginx::Util::ServerPort")
        or die "connect: $!";
    print $s join '', ("GET /sp HTTP/1.1\r\nHost: localhost\r\n\r\n") x 4,
        "GET /sp HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    my $answers = do { local $/; <$s> };
    Test::More::is(scalar(() = $answers =~ m{^HTTP/1.1 302 }mg), 5, 'five pipelined taps, five redirects');
    main::own_redis_start();
    my @ids = main::stream_click_ids('t:clicks:spool', 6);
    my %distinct = map { $_ => 1 } @ids;
    Test::More::is(scalar(keys %distinct), 6, 'six distinct click records in the stream');
    my $lens = main::own_redis('EVAL', q{local n = {} for _, e in ipairs(redis.call("XRANGE", KEYS[1], "-", "+")) do local c = 1 for _ in string.gmatch(e[2][2], "\n") do c = c + 1 end n[#n + 1] = c end return table.concat(n, ",")}, 1, 't:clicks:spool');
    Test::More::is($lens, '1,5', 'the first tap alone, the five pipelined ones in one entry, replayed whole');
  } ]
--- response_body_like eval
[ qr/302 Found/, qr/records_spooled 5\nrecords_replayed 5\n/ ]
--- error_code eval
[ 302, 200 ]



=== TEST 1c: Redis out of memory (maxmemory, noeviction): the stream is not trimmed, the records wait in the spool
--- init
main::own_redis('DEL', 't:clicks:spool');
main::own_redis('HSET', 'linkreport:link:sp', %$main::Link);
--- config
    location / { linkreport; }
    location = /st { linkreport_status; }
--- request eval
[ ("GET /sp") x 5, "GET /st" ]
--- between eval
[
  q{
    main::stream_click_ids('t:clicks:spool', 1);
    # every write refused with OOM, reads still answered (the link is cached anyway)
    main::own_redis('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    main::own_redis('CONFIG', 'SET', 'maxmemory', '1');
  },
  "", "",
  q{
    Time::HiRes::sleep(0.5 * $main::Slow);
    Test::More::is(main::own_redis('XLEN', 't:clicks:spool'), 1, 'while Redis refuses writes nothing is added, nothing trimmed');
    main::log_like(qr/1 click record\(s\) not confirmed by redis \(OOM /, 'the refusal is logged with Redis\'s reason');
    # the spooled file is tried again once a second, not every 10 ms
    my $refusals = sub { (main::own_redis('INFO', 'errorstats') =~ /errorstat_OOM:count=(\d+)/)[0] // 0 };
    my $before = $refusals->();
    Time::HiRes::sleep(1.5);
    my $refused = $refusals->() - $before;
    Test::More::cmp_ok($refused, '<=', 12, "a Redis that refuses is retried about once a second ($refused refusals in 1.5 s)");
    main::own_redis('CONFIG', 'SET', 'maxmemory', '0');
    my @ids = main::stream_click_ids('t:clicks:spool', 4);
    my %distinct = map { $_ => 1 } @ids;
    Test::More::is(scalar(keys %distinct), 4, 'memory back: four taps, four distinct click records in the stream');
    Time::HiRes::sleep(0.5 * $main::Slow);
    Test::More::is(join(',', main::spool_files()), '', 'the spool is empty once replayed');
  },
  q{
    Time::HiRes::sleep(0.3 * $main::Slow);
    open my $fh, '<', $Test::Nginx::Util::ErrLogFile or die "error log: $!";
    my $log = do { local $/; <$fh> };
    Test::More::is(scalar(() = $log =~ /not confirmed by redis/g), 1, 'the refusals are logged once');
    main::log_like(qr/redis confirms click records again; 3 record\(s\) in 3 batch\(es\) were spooled meanwhile/,
                   'and summed up when Redis confirms a batch again');
  },
]
--- response_body_like eval
[ (qr/302 Found/) x 5, qr/records_spooled 3\n(?:.*\n)?records_dropped 0\n/s ]
--- error_code eval
[ (302) x 5, 200 ]



=== TEST 1d: linkreport_stream_maxlen: a stream at its bound is not added to (nor trimmed): records wait in the spool until the reporter has trimmed it
--- init
main::own_redis('DEL', 't:clicks:spool');
main::own_redis('XADD', 't:clicks:spool', '*', 'old', $_) for 1 .. 5;
main::own_redis('HSET', 'linkreport:link:sp', %$main::Link);
--- http_config eval
"    linkreport_redis 127.0.0.1:$main::Port;
    linkreport_redis_timeout 300ms;
    linkreport_stream t:clicks:spool;
    linkreport_stream_maxlen 3;
    linkreport_cache zone=links:1m ttl=60s;
    linkreport_spool $main::Spool size=1m;"
--- config
    location / { linkreport; }
    location = /st { linkreport_status; }
--- request eval
[ "GET /st", "GET /st", ("GET /sp") x 3, "GET /st" ]
--- between eval
[
  "Time::HiRes::sleep(1.5 * \$main::Slow)",
  "", "", "",
  q{
    Time::HiRes::sleep(0.5 * $main::Slow);
    Test::More::is(main::own_redis('XLEN', 't:clicks:spool'), 5, 'the stream at its bound got nothing and lost nothing');
    Test::More::ok(scalar(main::spool_files()), 'the taps wait in the spool');
    main::log_like(qr/stream "t:clicks:spool" holds 5 entries, linkreport_stream_maxlen is 3: click records wait in the spool/,
                   'the full stream is logged');
    # what the reporter's trim does once every group has read and acknowledged them
    main::own_redis('XTRIM', 't:clicks:spool', 'MAXLEN', '0');
    my @ids = main::stream_click_ids('t:clicks:spool', 3);
    my %distinct = map { $_ => 1 } @ids;
    Test::More::is(scalar(keys %distinct), 3, 'trimmed: the three taps reach the stream');
    main::log_like(qr/stream "t:clicks:spool" holds 0 entries again, below linkreport_stream_maxlen/,
                   'and that is logged');
  },
]
--- response_body_like eval
[ qr/redis_connected 1\n/, qr/stream_full 1\n/, (qr/302 Found/) x 3, qr/records_spooled 3\n(?:.*\n)?records_dropped 0\n.*stream_full 0\n/s ]
--- error_code eval
[ 200, 200, (302) x 3, 200 ]



=== TEST 2: a full spool: redirects still served, every lost record counted and logged
--- spool_size: 4k
--- init
main::own_redis('DEL', 't:clicks:spool');
main::own_redis('HSET', 'linkreport:link:sp', %$main::Link);
--- request eval
[ ("GET /sp") x 40 ]
--- between eval
[ "Time::HiRes::sleep(0.3 * \$main::Slow); main::own_redis_stop()", ("") x 38,
  q{
    main::log_like(qr/\d+ click record\(s\) lost: spool share of 4096 bytes is full \(\d+ lost so far\)/,
                   'each lost record is logged with the count so far');
    main::own_redis_start();
    my @ids = main::stream_click_ids('t:clicks:spool', 2);
    Test::More::cmp_ok(scalar(@ids), '>', 1, 'what the spool held is replayed');
    Test::More::cmp_ok(scalar(@ids), '<', 40, 'what it could not hold is not');
    Time::HiRes::sleep(0.5 * $main::Slow);
  } ]
--- error_code eval
[ (302) x 40 ]



=== TEST 3: files a crashed worker left behind are taken over and replayed; a torn tail is skipped
--- init
main::own_redis('DEL', 't:clicks:spool');
main::own_redis('HSET', 'linkreport:link:sp', %$main::Link);
sub resp { my @a = @_; join '', "*" . @a . "\r\n", map { '$' . length($_) . "\r\n$_\r\n" } @a }
open my $f, '>', "$main::Spool/active-999999.rsp" or die $!;
print $f resp('XADD', 't:clicks:spool', '*', click_id => sprintf('%032x', $_), company_id => 'Zs',
              visited_on => '1700000000000') for 1 .. 3;
print $f "*5\r\n\$4\r\nXADD\r\n\$3\r\nt:c";    # a record torn by the crash
close $f;
--- request
GET /sp
--- between eval
[ q{
    my @ids = main::stream_click_ids('t:clicks:spool', 4);
    Test::More::is(scalar(@ids), 4, "three records from the dead worker's file and this tap's");
    Time::HiRes::sleep(0.3 * $main::Slow);
    main::log_like(qr/spool file "active-999999.rsp" of exited worker 999999 taken over/,
                   'the take-over is logged');
    main::log_like(qr/unreadable bytes at offset \d+, skipped/, 'the torn tail is logged');
    Test::More::is(join(',', main::spool_files()), '', 'the spool is empty once replayed');
  } ]
--- error_code: 302



=== TEST 4: a spool path that is not a folder is an nginx -t error
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_spool /etc/hostname;
--- must_die
--- error_log
spool "/etc/hostname" is not a folder
