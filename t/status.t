# The status page counts every worker's taps, cache answers and click records.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use LinkReport::Test;
use Time::HiRes ();

repeat_each(1);
no_shuffle();


run_tests();

__DATA__

=== TEST 1: redirects, 404s, cache hits and misses, records sent
--- links eval
{ st1 => { long_url => 'https://example.com/s', short_url => 'http://klr.bz/st1',
           txtly_id => '31', company_id => 'Zst', created_on => '1700000000' } }
--- http_config
    linkreport_cache zone=links:1m ttl=60s;
--- config
    location / { linkreport; }
    location = /linkreport-status { linkreport_status; }
--- request eval
["GET /st1", "GET /st1", "GET /st1", "GET /nope", "GET /nope", "GET /linkreport-status"]
--- between eval
["", "", "", "", "Time::HiRes::sleep(\$ENV{TEST_NGINX_USE_VALGRIND} ? 2 : 0.3)"]
--- error_code eval
[302, 302, 302, 404, 404, 200]
--- response_body_like eval
[qr/302 Found/, qr/302 Found/, qr/302 Found/, qr/404/, qr/404/,
 qr/^redirects 3\nnot_found 2\nerrors 0\ncache_hits 2\ncache_misses 2\ncache_negative 1\ncache_stale 0\nrecords_sent 3\nrecords_spooled 0\nrecords_replayed 0\nrecords_dropped 0\nua_classified 0\nredis_connected 1\nstream_full 0\n\z/]



=== TEST 2: the status page alone still needs a Redis to report on
--- no_linkreport_defaults
--- config
    location = /linkreport-status { linkreport_status; }
--- must_die
--- error_log
"linkreport" is used but "linkreport_redis" is not set



=== TEST 3: the per-worker UA cache holds a working set of half its slots: a second cycle through 480 agents classifies none
--- links eval
{ st3 => { long_url => 'https://example.com/u', short_url => 'http://klr.bz/st3',
           txtly_id => '33', company_id => 'Zst', created_on => '1700000000' } }
--- http_config
    linkreport_cache zone=links:1m ttl=60s;
    linkreport_ua_cache 1024;
--- config
    location / { linkreport; }
    location = /linkreport-status { linkreport_status; }
--- request eval
["GET /st3", "GET /linkreport-status"]
--- more_headers
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0
--- between eval
[q{
    use IO::Socket::INET;
    # one connection, 480 pipelined taps, each with its own agent (a set of 256 sets of 4
    # slots: with one set per agent the sets that more than 4 of them hash to miss on
    # every cycle)
    my $cycle = sub {
        return pipelined_taps(map { ['/st3', "User-Agent: Mozilla/5.0 (Linux; Android 13; Tester-$_) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.$_.0 Mobile Safari/537.36"] } 1 .. 480);
    };
    my $status = sub {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$Test::Nginx::Util::ServerPort") or die "connect: $!";
        print $s "GET /linkreport-status HTTP/1.0\r\n\r\n";
        my $page = do { local $/; <$s> };
        return $page =~ /^ua_classified (\d+)$/m ? $1 : 'none';
    };
    Test::More::is($cycle->(), 480, 'first cycle: 480 redirects');
    Test::More::is($status->(), 481, 'each agent classified once (and the first tap\'s)');
    Test::More::is($cycle->(), 480, 'second cycle: 480 redirects');
    Test::More::is($status->(), 481, 'the second cycle found every agent in the cache');
}]
--- error_code eval
[302, 200]
--- response_body_like eval
[qr/302 Found/, qr/ua_classified 481\n/]
