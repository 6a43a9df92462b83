# A Redis with a password and a non-default database: AUTH and SELECT run before any
# lookup; a wrong password is refused and logged without the password.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use LinkReport::Test;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);

repeat_each(1);
no_shuffle();

our $Port = ($ENV{LR_REDIS_PORT} || 6390) + 52;
our $Run = tempdir(CLEANUP => 1);
system("redis-server --bind 127.0.0.1 --port $Port --save '' --appendonly no "
     . "--requirepass 's3cret-pw' --daemonize yes --pidfile $Run/redis.pid "
     . "--logfile $Run/redis.log --dir $Run") == 0 or die "cannot start redis";
for (1 .. 50) { last if `redis-cli -p $Port -a s3cret-pw --no-auth-warning ping 2>/dev/null` =~ /PONG/; sleep 0.1 }
END { system("redis-cli -p $Port -a s3cret-pw --no-auth-warning shutdown nosave >/dev/null 2>&1") }
system("redis-cli -p $Port -a s3cret-pw --no-auth-warning -n 3 HSET linkreport:link:au "
     . "long_url https://example.com/db3 short_url http://klr.bz/au company_id Za >/dev/null");

run_tests();

__DATA__

=== TEST 1: the right password and database: the link in database 3 is found
--- http_config eval
"linkreport_redis 127.0.0.1:$main::Port;
 linkreport_redis_password s3cret-pw;
 linkreport_redis_db 3;
 linkreport_stream t:clicks:auth;"
--- config
    location / { linkreport; }
--- init
# the connection is set up (connect, AUTH, SELECT) before the first tap
Time::HiRes::sleep($ENV{TEST_NGINX_USE_VALGRIND} ? 3 : 0.3);
--- request
GET /au
--- error_code: 302
--- response_headers
Location: https://example.com/db3
--- no_error_log
[error]



=== TEST 2: a wrong password: 503, logged, and the password is nowhere in the log
--- http_config eval
"linkreport_redis 127.0.0.1:$main::Port;
 linkreport_redis_password wrong-pw-123;
 linkreport_stream t:clicks:auth;"
--- config
    location / { linkreport; }
--- request
GET /au
--- error_code: 503
--- error_log eval
qr/refused the connection setup: WRONGPASS/
--- no_error_log
wrong-pw-123
