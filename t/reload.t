# Reloading nginx under traffic loses no click: each old worker hands its last click
# records to Redis before it exits, and leaves no socket open behind it.
# Plain Test::More: this needs its own nginx with two workers and a load generator.
use strict;
use warnings;
use lib 't/lib';
use Test::Nginx::Socket ();    # for LinkReport::Test's environment only
use LinkReport::Test;
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);

plan skip_all => 'not under valgrind (two workers and a load generator)'
    if $ENV{TEST_NGINX_USE_VALGRIND};

my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $port = ($ENV{TEST_NGINX_PORT} || 1984) + 7;
my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/logs";
my $stream = "t:clicks:reload";
redis_cmd('DEL', $stream);
redis_cmd('HSET', 'linkreport:link:rl', long_url => 'https://example.com/r',
          short_url => 'http://klr.bz/rl', txtly_id => '9', company_id => 'Zr',
          created_on => '1700000000');

open my $conf, '>', "$dir/nginx.conf" or die $!;
print $conf <<"CONF";
load_module $ModulePath;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/logs/error.log notice;
events { worker_connections 256; }
http {
    log_format st '\$status';
    access_log $dir/logs/access.log st;
    linkreport_redis 127.0.0.1:$RedisPort;
    linkreport_stream $stream;
    server { listen 127.0.0.1:$port; location / { linkreport; } }
}
CONF
close $conf;

system($nginx, '-p', $dir, '-c', "$dir/nginx.conf", '-e', "$dir/logs/error.log") == 0
    or BAIL_OUT("cannot start nginx");
sleep 0.5;
chomp(my $master = do { open my $f, '<', "$dir/nginx.pid" or die $!; <$f> });

my $wrk = fork // die "fork: $!";
if ($wrk == 0) {
    open STDOUT, '>', "$dir/wrk.txt";
    exec 'wrk', '-t2', '-c20', '-d4s', "http://127.0.0.1:$port/rl";
    die "exec wrk: $!";
}
for (1 .. 3) {
    sleep 1;
    kill 'HUP', $master;
}
waitpid $wrk, 0;
sleep 2;    # old workers finish and exit

sub count_lines {
    my ($file, $re) = @_;
    open my $f, '<', $file or die "$file: $!";
    my $n = 0;
    while (<$f>) { $n++ if /$re/ }
    return $n;
}

my $redirects = count_lines("$dir/logs/access.log", qr/^302$/);
my $others = count_lines("$dir/logs/access.log", qr/^(?!302$)/);
my @records = stream_entries($stream);
my %ids = map { ($_->{click_id} // '') => 1 } @records;
my ($largest) = sort { $b <=> $a } map { $_->{_records} } @records;
my $entries = redis_cmd('XLEN', $stream);
cmp_ok($redirects, '>', 1000, "load ran through three reloads ($redirects redirects)");
is($others, 0, 'every request was redirected');
is(scalar @records, $redirects, 'one click record per redirect, none lost to the reloads');
is(scalar(grep { $_->{_bad} } @records), 0, 'every record is well formed');
is(scalar keys %ids, $redirects, 'each with its own click id');
# under load the records of one event-loop cycle share an entry, never more than 64
cmp_ok($entries, '<', $redirects, "records share entries ($redirects in $entries)");
cmp_ok($largest, '<=', 64, "at most 64 records in an entry (largest: $largest)");

# many reloads leave exactly one Redis connection per live worker, no socket behind
my $clients = sub { scalar grep { /cmd=/ } split /\n/, redis_cmd('CLIENT', 'LIST') };
my $before = $clients->();
for (1 .. 10) {
    kill 'HUP', $master;
    sleep 0.3;
}
sleep 2;
is($clients->(), $before, 'ten more reloads: as many Redis connections as before');

kill 'QUIT', $master;
for (1 .. 50) { last unless kill 0, $master; sleep 0.1 }
ok(!kill(0, $master), 'nginx quit');

my $log = do { open my $f, '<', "$dir/logs/error.log" or die $!; local $/; <$f> };
my @bad = grep { /\[(alert|crit|emerg)\]|may be lost|not stored|lost|exited on signal|open socket/ } split /\n/, $log;
is(join("\n", @bad), '', 'no alert, no lost record, no crash in the error log');

done_testing();
