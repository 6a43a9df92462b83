# End to end: `linkreport link create` publishes a link, a tap on the edge becomes a stream
# entry, `linkreport drain` stores it, and `linkreport report` prints it as the seed's row.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use LinkReport::Test;
use Test::More ();

repeat_each(1);
no_shuffle();

my $bin = $ENV{LINKREPORT_BIN} || "$Root/build/linkreport";
my $admin = $ENV{LINKREPORT_DB} or die "LINKREPORT_DB is not set (scripts/services.sh env)\n";
my $db = "lr_pipeline_$$";
(my $conninfo = $admin) =~ s{/[^/?]*(\?|$)}{/$db$1};

sub sh {
    my $out = `@_`;
    die "command failed ($?): @_\n$out" if $?;
    return $out;
}

sh("psql -q -X '$admin' -c 'DROP DATABASE IF EXISTS $db' -c 'CREATE DATABASE $db' 2>&1");
END { system("psql -q -X '$admin' -c 'DROP DATABASE IF EXISTS $db' >/dev/null 2>&1") if $admin }

$ENV{LINKREPORT_DB} = $conninfo;
$ENV{LINKREPORT_STREAM} = 't:pipeline:clicks';
$ENV{LINKREPORT_KEY_PREFIX} = 't:pipeline:link:';
$ENV{LINKREPORT_BASE_URL} = 'http://klr.bz';
redis_cmd('DEL', 't:pipeline:clicks');

sh("$bin migrate 2>&1");
sh("$bin company create --id ZcPipe01 --name 'Pipe Ltd' --timezone Asia/Kolkata --owner-email ops\@pipe.example 2>&1");
my $created = sh("$bin link create --company ZcPipe01 --long-url 'https://shop.example/a?b=1' "
               . "--campaign 'Winter, \"Sale\"' --template-id 1107 --channel SMS "
               . "--recipient '+919900000001:0exx9d-7xxd:0' 2>&1");
my ($short, $mobile, $msg) = split /\t/, (split /\n/, $created)[0];
our ($Path) = $short =~ m{^http://klr\.bz(/\S+)$} or die "unexpected output: $created";

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated, $dry_run) = @_;
    return if $dry_run || !defined $block->pipeline_report;

    my $drained = sh("$bin drain --once 2>&1");
    Test::More::like($drained, qr/^drained: 1 stored, 0 duplicates, 0 dead letters$/m,
                     'drain stores the one click');

    chomp(my $day = `TZ=Asia/Kolkata date +%F`);
    my $csv = sh("$bin report --company ZcPipe01 --from $day --to $day");
    my @lines = split /\r\n/, $csv;
    Test::More::is(scalar(@lines), 2, 'report: header and one row');
    Test::More::is($lines[0], 'SHORT_URL,TXTLY_ID,MOBILE NUMBER,CLIENT IP,BROWSER,PLATFORM,'
        . 'PLATFORM VERSION,DEVICE BRAND,COUNTRY,CITY,VISITED ON,DEVICE TYPE,CREATED_ON,'
        . 'LONG_URL,CHANNEL,MESSAGE_ID,COMPANY_ID,CAMPAIGN_NAME,TEMPLATE_ID', 'report header');
    my $date = qr{[1-9]\d?/[1-9]\d?/20\d\d [1-9]\d?:\d\d:\d\d [AP]M};
    Test::More::like($lines[1] // '', qr{^\Q$short\E,\d+,\+919900000001,89\.160\.20\.115,Chrome,
        AndroidOS,10,Blink,Sweden,Link\x{c3}\x{b6}ping,$date,Phone,$date,
        https://shop\.example/a\?b=1,SMS,0exx9d-7xxd:0,ZcPipe01,"Winter,\ ""Sale""",1107$}x,
        'report row carries every column of the tap');
});

run_tests();

__DATA__

=== TEST 1: a tap on a published per-recipient link ends up as a report row
--- http_config
    linkreport_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    linkreport_stream t:pipeline:clicks;
    linkreport_key_prefix t:pipeline:link:;
    linkreport_geoip_db $TEST_NGINX_SHARED/testdata/maxmind/GeoLite2-City-Test.mmdb;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
--- config
    location / { linkreport; }
--- request eval
"GET $main::Path"
--- more_headers
X-Forwarded-For: 89.160.20.115
User-Agent: Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36
--- error_code: 302
--- response_headers
Location: https://shop.example/a?b=1
--- pipeline_report
