# A GeoIP database replaced on disk is picked up by running workers, without a reload;
# a broken replacement, or one that is not a City database, leaves the database in use.
# 149.101.100.1 is in MaxMind's GeoIP2-City-Test (United States), not in GeoLite2-City-Test.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use LinkReport::Test;
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use Test::More ();

repeat_each(1);
no_shuffle();

my $maxmind = "$SharedDir/testdata/maxmind";
our $Dir = tempdir(CLEANUP => 1);
our $Db = "$Dir/GeoIP.mmdb";
our $Link = { long_url => 'https://example.com/', short_url => 'http://klr.bz/geo',
              txtly_id => '1', company_id => 'c1', created_on => '1700000000' };

# put a database in place the way operators do: write aside, then rename over
sub install_db {
    my ($file) = @_;
    copy($file, "$Dir/next.mmdb") or die "copy $file: $!";
    utime(time, time + 5, "$Dir/next.mmdb");   # a new mtime even within one second
    rename("$Dir/next.mmdb", $Db) or die "rename: $!";
}

# every block starts from MaxMind's GeoLite2 City test database
add_block_preprocessor(sub { install_db("$maxmind/GeoLite2-City-Test.mmdb") });

my $wait = $ENV{TEST_NGINX_USE_VALGRIND} ? 4 : 1;

sub newest_click {
    my ($block) = @_;
    my @e;
    for (1 .. 100) {
        @e = stream_entries($block->{linkreport_stream});
        last if @e >= ($block->{seen} // 0) + 1;
        sleep 0.05;
    }
    $block->{seen} = scalar @e;
    return $e[-1] || {};
}

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    return if $dry_run || !defined $block->swap_to;
    my $name = $block->name;
    my $click = newest_click($block);
    my @want = split /\|/, $block->expect->[$req_idx];
    Test::More::is($click->{country}, $want[0] // "", "$name - request $req_idx country");
    Test::More::is($click->{city}, $want[1] // '', "$name - request $req_idx city");
    if ($req_idx == 0) {
        install_db("$maxmind/" . $block->swap_to);
        sleep $wait;   # a few check intervals
        return;
    }
    open my $fh, '<', $Test::Nginx::Util::ErrLogFile or die "error log: $!";
    my $log = do { local $/; <$fh> };
    Test::More::like($log, qr/$_/, "$name - error log: $_") for @{ $block->reload_log };
});

run_tests();

__DATA__

=== TEST 1: a new database written in place is used without a reload
--- links eval
{ geo => $main::Link }
--- http_config eval
"linkreport_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
 linkreport_stream t:clicks:geoip-reload-1;
 linkreport_geoip_db $main::Db;
 linkreport_geoip_check 100ms;
 set_real_ip_from 127.0.0.1;
 real_ip_header X-Forwarded-For;"
--- config
    location / { linkreport; }
--- request eval
["GET /geo", "GET /geo"]
--- more_headers
X-Forwarded-For: 149.101.100.1
--- error_code eval
[302, 302]
--- swap_to: GeoIP2-City-Test.mmdb
--- expect eval
["|", "United States|"]
--- reload_log eval
[qr/linkreport: GeoIP database ".*GeoIP\.mmdb" reloaded/]



=== TEST 2: a corrupt replacement is refused and the database in use stays
--- links eval
{ geo => $main::Link }
--- http_config eval
"linkreport_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
 linkreport_stream t:clicks:geoip-reload-2;
 linkreport_geoip_db $main::Db;
 linkreport_geoip_check 100ms;
 set_real_ip_from 127.0.0.1;
 real_ip_header X-Forwarded-For;"
--- config
    location / { linkreport; }
--- request eval
["GET /geo", "GET /geo"]
--- more_headers
X-Forwarded-For: 81.2.69.160
--- error_code eval
[302, 302]
--- swap_to: GeoIP2-City-Test-Invalid-Node-Count.mmdb
--- expect eval
["United Kingdom|London", "United Kingdom|London"]
--- reload_log eval
[qr/new GeoIP database ".*GeoIP\.mmdb" cannot be used \(.*\), keeping the one in use/]



=== TEST 3: a Country database as replacement is refused: it would name no city
--- links eval
{ geo => $main::Link }
--- http_config eval
"linkreport_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
 linkreport_stream t:clicks:geoip-reload-3;
 linkreport_geoip_db $main::Db;
 linkreport_geoip_check 100ms;
 set_real_ip_from 127.0.0.1;
 real_ip_header X-Forwarded-For;"
--- config
    location / { linkreport; }
--- request eval
["GET /geo", "GET /geo"]
--- more_headers
X-Forwarded-For: 81.2.69.160
--- error_code eval
[302, 302]
--- swap_to: GeoLite2-Country-Test.mmdb
--- expect eval
["United Kingdom|London", "United Kingdom|London"]
--- reload_log eval
[qr/new GeoIP database ".*GeoIP\.mmdb" cannot be used \(not a City database/]
