# Download links: docs/nginx-download.conf served by Debian's nginx (secure_link module),
# links computed by the reporter (linkreport download-url). Valid: 200 with the file;
# tampered signature, path or recipient: 403; expired: 410.
# Run: TEST_NGINX_BINARY=/usr/sbin/nginx TEST_NGINX_PORT=1996 prove t/download.t
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use Test::Nginx::Socket 'no_plan';

my $root = File::Spec->rel2abs(dirname(__FILE__) . '/..');
my $bin = File::Spec->rel2abs($ENV{LINKREPORT_BIN} // "$root/build/linkreport");
my $secret = 'dl-test-secret-0123456789';
my $reports = tempdir(CLEANUP => 1);
chmod 0755, $reports;   # nginx workers run as another user
mkdir "$reports/acme";
mkdir "$reports/beta";
chmod 0755, "$reports/acme", "$reports/beta";
for (['acme/acme_daily_2024-03-30_2024-03-30.csv', "SHORT_URL,TXTLY_ID\r\nacme-row,1\r\n"],
     ['beta/beta_daily_2024-03-30_2024-03-30.csv', "SHORT_URL,TXTLY_ID\r\nbeta-secret,2\r\n"]) {
    open my $fh, '>', "$reports/$_->[0]" or die $!;
    print $fh $_->[1];
    close $fh;
    chmod 0644, "$reports/$_->[0]";
}

# The shipped snippet, with the test's secret and folder.
my $snippet = do { local (@ARGV, $/) = "$root/docs/nginx-download.conf"; <> };
$snippet =~ s/\$arg_r CHANGE_ME_SECRET/\$arg_r $secret/;
$snippet =~ s{alias /var/lib/linkreport/reports/;}{alias $reports/;};
$ENV{DL_CONFIG} = $snippet;

sub url {
    my (%o) = @_;
    local $ENV{LINKREPORT_DOWNLOAD_BASE_URL} = 'http://localhost/reports';
    local $ENV{LINKREPORT_DOWNLOAD_SECRET} = $secret;
    my @now = $o{now} ? ('--now', $o{now}) : ();
    my $cmd = join ' ', map { "'$_'" } $bin, @now, 'download-url', '--file', $o{file}, '--recipient', $o{r},
        ($o{ttl} ? ('--ttl', $o{ttl}) : ());
    my $u = `$cmd`;
    die "download-url failed: $cmd" if $? != 0;
    chomp $u;
    $u =~ s{^http://localhost}{};
    return $u;
}
my $acme = 'acme/acme_daily_2024-03-30_2024-03-30.csv';
$ENV{DL_VALID} = url(file => $acme, r => 'ann+reports@acme.example');
($ENV{DL_BAD_MD5} = $ENV{DL_VALID}) =~ s/md5=(.)/'md5=' . ($1 eq 'A' ? 'B' : 'A')/e;
($ENV{DL_OTHER_FILE} = $ENV{DL_VALID}) =~ s{/reports/acme/acme_}{/reports/beta/beta_};
($ENV{DL_OTHER_RECIPIENT} = $ENV{DL_VALID}) =~ s/r=ann%2Breports/r=bob/;
($ENV{DL_NO_MD5} = $ENV{DL_VALID}) =~ s/&md5=.*//;
($ENV{DL_LATER} = $ENV{DL_VALID}) =~ s/expires=(\d+)/'expires=' . ($1 + 86400)/e;
$ENV{DL_EXPIRED} = url(file => $acme, r => 'ann+reports@acme.example', now => '2020-01-01T00:00:00Z', ttl => 60);
$ENV{DL_BETA} = url(file => 'beta/beta_daily_2024-03-30_2024-03-30.csv', r => 'boss@beta.example');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a valid link serves the file
--- config eval: $ENV{DL_CONFIG}
--- request eval: "GET $ENV{DL_VALID}"
--- error_code: 200
--- response_headers
Content-Type: text/csv
Content-Disposition: attachment
Cache-Control: private, no-store
--- response_body eval: "SHORT_URL,TXTLY_ID\r\nacme-row,1\r\n"

=== TEST 2: a tampered signature is refused
--- config eval: $ENV{DL_CONFIG}
--- request eval: "GET $ENV{DL_BAD_MD5}"
--- error_code: 403

=== TEST 3: the same signature on another company's file is refused
--- config eval: $ENV{DL_CONFIG}
--- request eval: "GET $ENV{DL_OTHER_FILE}"
--- error_code: 403
--- response_body_unlike: beta-secret

=== TEST 4: another recipient cannot use the link
--- config eval: $ENV{DL_CONFIG}
--- request eval: "GET $ENV{DL_OTHER_RECIPIENT}"
--- error_code: 403

=== TEST 5: no signature, no file
--- config eval: $ENV{DL_CONFIG}
--- request eval: "GET $ENV{DL_NO_MD5}"
--- error_code: 403

=== TEST 6: a later expiry than signed is refused
--- config eval: $ENV{DL_CONFIG}
--- request eval: "GET $ENV{DL_LATER}"
--- error_code: 403

=== TEST 7: an expired link is refused with 410
--- config eval: $ENV{DL_CONFIG}
--- request eval: "GET $ENV{DL_EXPIRED}"
--- error_code: 410

=== TEST 8: the other company's own link serves its file
--- config eval: $ENV{DL_CONFIG}
--- request eval: "GET $ENV{DL_BETA}"
--- error_code: 200
--- response_body eval: "SHORT_URL,TXTLY_ID\r\nbeta-secret,2\r\n"

=== TEST 9: no path outside the reports folder
--- config eval: $ENV{DL_CONFIG}
--- request eval: "GET /reports/../../etc/passwd?r=x&expires=9999999999&md5=AAAAAAAAAAAAAAAAAAAAAA"
--- error_code: 400
