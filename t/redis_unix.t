# Redis over a unix socket.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use LinkReport::Test;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);

repeat_each(1);
no_shuffle();

our $Run = tempdir(CLEANUP => 1);
our $Sock = "$Run/redis.sock";
system("redis-server --port 0 --unixsocket $Sock --unixsocketperm 700 --save '' "
     . "--appendonly no --daemonize yes --pidfile $Run/redis.pid --logfile $Run/redis.log "
     . "--dir $Run") == 0 or die "cannot start redis";
for (1 .. 50) { last if -S $Sock; sleep 0.1 }
END { system("redis-cli -s $Sock shutdown nosave >/dev/null 2>&1") }
system("redis-cli -s $Sock HSET linkreport:link:ux long_url https://example.com/unix "
     . "short_url http://klr.bz/ux company_id Zu >/dev/null");

run_tests();

__DATA__

=== TEST 1: a link found through a unix socket, and its click recorded there
--- http_config eval
"linkreport_redis unix:$main::Sock;
 linkreport_stream t:clicks:unix;"
--- config
    location / { linkreport; }
--- init
Time::HiRes::sleep($ENV{TEST_NGINX_USE_VALGRIND} ? 3 : 0.3);
--- request
GET /ux
--- error_code: 302
--- response_headers
Location: https://example.com/unix
--- wait: 0.5
--- no_error_log
[error]
