# Configuration errors are caught by nginx -t with a precise message.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use LinkReport::Test;

repeat_each(1);
no_shuffle();

run_tests();

__DATA__

=== TEST 1: a malformed Redis address is refused
--- http_config
    linkreport_redis redis_host!:6379;
--- config
    location / { linkreport; }
--- must_die
--- error_log
invalid redis address "redis_host!:6379": expected host and port



=== TEST 2: a Redis port out of range is refused
--- http_config
    linkreport_redis 127.0.0.1:70000;
--- config
    location / { linkreport; }
--- must_die
--- error_log
invalid redis address "127.0.0.1:70000"



=== TEST 3: a relative unix socket path is refused
--- http_config
    linkreport_redis unix:redis.sock;
--- config
    location / { linkreport; }
--- must_die
--- error_log
unix socket path in "unix:redis.sock" must be absolute



=== TEST 4: the handler without a Redis server is refused
--- no_linkreport_defaults
--- config
    location / { linkreport; }
--- must_die
--- error_log
"linkreport" is used but "linkreport_redis" is not set



=== TEST 5: a missing GeoIP database is refused
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_geoip_db /nonexistent/GeoLite2-City.mmdb;
--- config
    location / { linkreport; }
--- must_die
--- error_log
cannot open GeoIP database "/nonexistent/GeoLite2-City.mmdb"



=== TEST 6: a corrupt GeoIP database is refused
--- http_config eval
"linkreport_redis 127.0.0.1:6379;
 linkreport_geoip_db $ENV{TEST_NGINX_SHARED}/testdata/maxmind/GeoIP2-City-Test-Invalid-Node-Count.mmdb;"
--- config
    location / { linkreport; }
--- must_die
--- error_log eval
qr/cannot open GeoIP database ".*GeoIP2-City-Test-Invalid-Node-Count.mmdb": /



=== TEST 7: a file that is not a database is refused
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_geoip_db /etc/hostname;
--- config
    location / { linkreport; }
--- must_die
--- error_log
cannot open GeoIP database "/etc/hostname": The MaxMind DB file contains invalid metadata



=== TEST 8: missing user-agent regexes are refused
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_ua_regexes /nonexistent/regexes.yaml;
--- config
    location / { linkreport; }
--- must_die
--- error_log
cannot load user-agent regexes "/nonexistent/regexes.yaml": cannot open: No such file or directory



=== TEST 9: user-agent regexes that are not YAML are refused
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_ua_regexes /etc/services;
--- config
    location / { linkreport; }
--- must_die
--- error_log eval
qr{cannot load user-agent regexes "/etc/services": }



=== TEST 10: a stream name with a space is refused
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_stream "clicks stream";
--- config
    location / { linkreport; }
--- must_die
--- error_log
"linkreport_stream" directive must hold printable ASCII characters only



=== TEST 11: "linkreport" takes no argument
--- config
    location / { linkreport on; }
--- must_die
--- error_log
invalid number of arguments in "linkreport" directive



=== TEST 12: "linkreport" twice in one location is refused
--- config
    location / { linkreport; linkreport; }
--- must_die
--- error_log
"linkreport" directive is duplicate



=== TEST 13: loaded but unused, the module needs no Redis and no regexes
--- no_linkreport_defaults
--- config
    location /ok { return 200 "fine\n"; }
--- request
GET /ok
--- response_body
fine



=== TEST 14: an IPv6 Redis address is accepted
--- http_config
    linkreport_redis [::1]:6379;
--- config
    location / { linkreport; }
--- request
GET /x..
--- error_code: 404



=== TEST 15: a regex location has no prefix to read the code below: refused
--- config
    location ~ ^/r/ { linkreport; }
--- must_die
--- error_log
"linkreport" directive must be in a prefix location



=== TEST 16: an exact location is refused too
--- config
    location = /x { linkreport; }
--- must_die
--- error_log
"linkreport" directive must be in a prefix location



=== TEST 17: a zero lookup timeout is refused (every tap would be 503)
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_redis_timeout 0;
--- config
    location / { linkreport; }
--- must_die
--- error_log
"linkreport_redis_timeout" must be from 1ms to 60s



=== TEST 18: a Country database is refused: it never names a city
--- http_config eval
"linkreport_redis 127.0.0.1:6379;
 linkreport_geoip_db $ENV{TEST_NGINX_SHARED}/testdata/maxmind/GeoLite2-Country-Test.mmdb;"
--- config
    location / { linkreport; }
--- must_die
--- error_log eval
qr/cannot open GeoIP database ".*GeoLite2-Country-Test.mmdb": not a City database/



=== TEST 19: a language the database does not list is warned about at nginx -t
--- http_config eval
"linkreport_redis 127.0.0.1:6379;
 linkreport_geoip_db $ENV{TEST_NGINX_SHARED}/testdata/maxmind/GeoLite2-City-Test.mmdb;
 linkreport_geoip_language xx;"
--- config
    location /ok { return 200 "fine\n"; }
    location / { linkreport; }
--- request
GET /ok
--- response_body
fine
--- error_log
the GeoIP database does not list language "xx" in its metadata: country and city may stay empty



=== TEST 20: an empty GeoIP path is refused
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_geoip_db "";
--- config
    location / { linkreport; }
--- must_die
--- error_log
"linkreport_geoip_db" directive needs the path of a MaxMind City database



=== TEST 21: linkreport_cache needs zone=name:size
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_cache ttl=10s;
--- config
    location / { linkreport; }
--- must_die
--- error_log
"linkreport_cache" must have "zone" parameter



=== TEST 22: a cache zone below eight pages is refused
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_cache zone=links:4k;
--- config
    location / { linkreport; }
--- must_die
--- error_log
zone "zone=links:4k" is too small



=== TEST 23: a zero ttl is refused
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_cache zone=links:1m ttl=0;
--- config
    location / { linkreport; }
--- must_die
--- error_log
"linkreport_cache" directive needs a ttl above 0



=== TEST 24: an unknown cache parameter is refused
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_cache zone=links:1m tll=5s;
--- config
    location / { linkreport; }
--- must_die
--- error_log
invalid parameter "tll=5s"



=== TEST 25: an unsupported redirect status is refused
--- config
    location / { linkreport; linkreport_redirect_status 303; }
--- must_die
--- error_log
invalid redirect status "303": 301, 302, 307 or 308



=== TEST 26: linkreport_stream_maxlen without a spool is refused (the records a full stream cannot take wait there)
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_stream_maxlen 100000;
--- config
    location / { linkreport; }
--- must_die
--- error_log
"linkreport_stream_maxlen" needs "linkreport_spool": the click records a full stream cannot take wait there



=== TEST 27: a linkreport_stream_maxlen that is not a number is refused
--- http_config
    linkreport_redis 127.0.0.1:6379;
    linkreport_stream_maxlen 10k;
--- config
    location / { linkreport; }
--- must_die
--- error_log
"linkreport_stream_maxlen" directive invalid number
