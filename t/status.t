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
 qr/^redirects 3\nnot_found 2\nerrors 0\ncache_hits 2\ncache_misses 2\ncache_negative 1\ncache_stale 0\nrecords_sent 3\nrecords_spooled 0\nrecords_replayed 0\nrecords_dropped 0\nredis_connected 1\n\z/]



=== TEST 2: the status page alone still needs a Redis to report on
--- no_linkreport_defaults
--- config
    location = /linkreport-status { linkreport_status; }
--- must_die
--- error_log
"linkreport" is used but "linkreport_redis" is not set
