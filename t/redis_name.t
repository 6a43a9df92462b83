# A Redis named by host name: resolved with nginx's asynchronous resolver
# (linkreport_resolver), never with a blocking lookup in the worker.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use LinkReport::Test;
use Time::HiRes qw(sleep);

repeat_each(1);
no_shuffle();

our $DnsPort = ($ENV{LR_REDIS_PORT} || 6390) + 53;
our $Dns = fork // die "fork: $!";
if ($Dns == 0) {
    exec '/usr/bin/python3', "$LinkReport::Test::Root/t/lib/dns_stub.py", $DnsPort;
    die "exec: $!";
}
END { kill 'TERM', $Dns if $Dns }
sleep 0.3;

our $Link = { long_url => 'https://example.com/named', short_url => 'http://klr.bz/nm',
              txtly_id => '41', company_id => 'Zn', created_on => '1700000000' };

run_tests();

__DATA__

=== TEST 1: a name the resolver knows: the link is found
--- links eval
{ nm => $main::Link }
--- init
# the name is resolved and the connection made before the first tap
Time::HiRes::sleep($ENV{TEST_NGINX_USE_VALGRIND} ? 3 : 0.3);
--- http_config eval
"linkreport_resolver 127.0.0.1:$main::DnsPort ipv6=off;
 linkreport_redis redis.test:$ENV{TEST_NGINX_REDIS_PORT};
 linkreport_stream t:clicks:named;"
--- config
    location / { linkreport; }
--- request
GET /nm
--- error_code: 302
--- response_headers
Location: https://example.com/named



=== TEST 2: a name that does not exist: 503, and the resolver's answer logged
--- http_config eval
"linkreport_resolver 127.0.0.1:$main::DnsPort ipv6=off;
 linkreport_redis no-such-host.invalid:6379;
 linkreport_stream t:clicks:named;"
--- config
    location / { linkreport; }
--- request
GET /nm
--- error_code: 503
--- error_log
linkreport: redis: cannot resolve "no-such-host.invalid": Host not found



=== TEST 3: a name without linkreport_resolver is an nginx -t error
--- http_config
    linkreport_redis redis.test:6379;
--- config
    location / { linkreport; }
--- must_die
--- error_log
redis host "redis.test" is a name: set "linkreport_resolver" so that it is resolved without blocking
