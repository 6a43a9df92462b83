# The shared-memory link cache: hits without Redis, changes seen within the ttl,
# unknown codes cached (a scan does not hammer Redis), stale entries served while Redis
# is down or too slow, and a full zone evicting its least recently used entries.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use LinkReport::Test;
use Time::HiRes qw(sleep);

repeat_each(1);
no_shuffle();

# a Redis of this suite's own, to stop and to count commands in
our $Port = ($ENV{LR_REDIS_PORT} || 6390) + 50;
our $Run = "/tmp/linkreport-cache-t-$$";
mkdir $Run;
sub own_redis_start {
    system("redis-server --bind 127.0.0.1 --port $Port --save '' --appendonly no "
         . "--daemonize yes --pidfile $Run/redis.pid --logfile $Run/redis.log --dir $Run") == 0
        or die "cannot start redis on $Port";
    for (1 .. 50) { last if `redis-cli -p $Port ping 2>/dev/null` =~ /PONG/; sleep 0.1 }
}
sub own_redis { my $cmd = join ' ', map { "'$_'" } @_; `redis-cli -p $Port $cmd` }
sub own_redis_stop { system("redis-cli -p $Port shutdown nosave >/dev/null 2>&1") }
sub own_redis_pid { open my $f, '<', "$Run/redis.pid" or die $!; my $pid = <$f>; chomp $pid; $pid }
own_redis_start();
END { own_redis_stop(); system("rm -rf $Run") }

our $Link = { long_url => 'https://example.com/v1', short_url => 'http://klr.bz/c1',
              txtly_id => '11', company_id => 'Zc', created_on => '1700000000' };

sub hmget_calls {
    my ($stats) = own_redis('INFO', 'commandstats') =~ /cmdstat_hmget:calls=(\d+)/;
    return $stats // 0;
}


add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        $block->set_value('http_config', <<"_EOC_");
    linkreport_redis 127.0.0.1:$main::Port;
    linkreport_stream t:clicks:cache;
    linkreport_cache zone=links:1m ttl=1s negative_ttl=1s stale=1h;
_EOC_
    }
    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location / {
        linkreport;
        add_header X-Cache $linkreport_cache_status always;
        add_header X-Code $linkreport_code always;
    }
_EOC_
    }
});

run_tests();

__DATA__

=== TEST 1: a second tap is a cache hit; a changed link is seen once the ttl is over
--- init
main::own_redis('DEL', 'linkreport:link:c1');
main::own_redis('HSET', 'linkreport:link:c1', %$main::Link);
--- request eval
["GET /c1", "GET /c1", "GET /c1", "GET /c1"]
--- between eval
[
  "",
  "main::own_redis('HSET', 'linkreport:link:c1', 'long_url', 'https://example.com/v2')",
  "Time::HiRes::sleep(1.2)",
]
--- error_code eval
[302, 302, 302, 302]
--- response_headers eval
["X-Cache: MISS\nLocation: https://example.com/v1\nX-Code: c1",
 "X-Cache: HIT\nLocation: https://example.com/v1",
 "X-Cache: HIT\nLocation: https://example.com/v1",
 "X-Cache: EXPIRED\nLocation: https://example.com/v2"]



=== TEST 2: an unknown code is cached as unknown: a scan reaches Redis once a code
--- init
main::own_redis('DEL', 'linkreport:link:nx');
$main::Before = main::hmget_calls();
--- pipelined_requests eval
["GET /nx", "GET /nx", "GET /nx", "GET /nx", "GET /nx", "GET /nx", "GET /nx", "GET /nx"]
--- error_code eval
[404, 404, 404, 404, 404, 404, 404, 404]
--- between eval
["Test::More::is(main::hmget_calls() - \$main::Before, 1, 'one HMGET for eight taps on an unknown code')"]



=== TEST 3: a link created after a negative answer is served once negative_ttl is over
--- init
main::own_redis('DEL', 'linkreport:link:late');
--- request eval
["GET /late", "GET /late", "GET /late"]
--- between eval
[
  "main::own_redis('HSET', 'linkreport:link:late', %\$main::Link)",
  "Time::HiRes::sleep(1.2)",
]
--- error_code eval
[404, 404, 302]
--- response_headers eval
["X-Cache: MISS", "X-Cache: NEGATIVE", "X-Cache: EXPIRED"]



=== TEST 4: Redis down: an expired entry is served stale, an unknown one is 503
--- init
main::own_redis('DEL', 'linkreport:link:st');
main::own_redis('HSET', 'linkreport:link:st', %$main::Link);
--- request eval
["GET /st", "GET /st", "GET /never-seen"]
--- between eval
[
  "main::own_redis_stop(); Time::HiRes::sleep(1.2)",
  "",
]
--- error_code eval
[302, 302, 503]
--- response_headers eval
["X-Cache: MISS", "X-Cache: STALE\nLocation: https://example.com/v1", ""]



=== TEST 5: Redis back: lookups resume
--- init
main::own_redis_start();
main::own_redis('HSET', 'linkreport:link:back', %$main::Link);
Time::HiRes::sleep(0.5);
--- request eval
["GET /back", "GET /back"]
--- error_code eval
[302, 302]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT"]



=== TEST 6: a full zone evicts its least recently used entries and keeps answering
--- http_config eval
"linkreport_redis 127.0.0.1:$main::Port;
 linkreport_stream t:clicks:cache;
 linkreport_cache zone=small:32k ttl=60s;"
--- init
for my $i (1 .. 60) {
    main::own_redis('HSET', "linkreport:link:big$i", %$main::Link,
                    'long_url', "https://example.com/$i/" . ('x' x 3000));
}
--- pipelined_requests eval
[ map { "GET /big$_" } 1 .. 60, 60, 1 ]
--- error_code eval
[ (302) x 62 ]
--- response_headers eval
[ ("X-Cache: MISS") x 60, "X-Cache: HIT", "X-Cache: MISS" ]



=== TEST 7: a slow Redis (stopped with SIGSTOP): the lookup times out and the stale entry answers; Redis resumes, lookups resume
--- http_config eval
"linkreport_redis 127.0.0.1:$main::Port;
 linkreport_redis_timeout 300ms;
 linkreport_stream t:clicks:cache;
 linkreport_cache zone=links:1m ttl=1s;"
--- init
main::own_redis('HSET', 'linkreport:link:slow', %$main::Link);
--- request eval
["GET /slow", "GET /slow", "GET /slow"]
--- between eval
[
  "Time::HiRes::sleep(1.2); kill 'STOP', main::own_redis_pid()",
  "kill 'CONT', main::own_redis_pid(); Time::HiRes::sleep(0.5)",
]
--- error_code eval
[302, 302, 302]
--- response_headers eval
["X-Cache: MISS", "X-Cache: STALE", "X-Cache: EXPIRED"]
