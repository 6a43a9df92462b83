#!/usr/bin/perl
# report: exact CSV (header, quoting, formula guard, dates in the company's zone), period
# boundaries in local time including DST days, tenant isolation.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use IPC::Run ();
use Test::More;
use Time::Local qw(timegm);
use LRTest;

setup_isolated('report');
for (['acme', 'Asia/Kolkata'], ['gamma', 'Asia/Kolkata'], ['beta', 'Europe/Berlin']) {
    lr_ok('company', 'create', '--id', $_->[0], '--name', $_->[0], '--timezone', $_->[1],
          '--owner-email', "o\@$_->[0].example");
}

# "2024-02-19T09:24:51.000" (UTC) -> Unix milliseconds.
sub ms {
    my ($y, $mo, $d, $h, $mi, $s, $frac) = $_[0] =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(?:\.(\d{3}))?$/
        or die "bad time $_[0]";
    return timegm($s, $mi, $h, $d, $mo - 1, $y) * 1000 + ($frac // 0);
}

sub add { xadd_click(click_fields(@_)) }

# acme (IST = UTC+5:30); the report below covers 2024-02-19 and 2024-02-20 local.
add(click_id => 'a' x 32, visited_on => ms('2024-02-18T18:29:59.999'));      # 18 Feb 23:59:59.999 IST: out
add(click_id => 'b' x 32, visited_on => ms('2024-02-18T18:30:00.000'));      # 19 Feb 00:00 IST: in
add(click_id => 'c' x 32, visited_on => ms('2024-02-19T09:24:51.000'),       # 19 Feb 2:54:51 PM
    campaign_name => '=HYPERLINK("http://evil.example","click")', mobile_number => '+4915112345678');
add(click_id => 'd' x 32, visited_on => ms('2024-02-19T18:30:00.000'),       # 20 Feb midnight
    city => ' Leading space', template_id => '-12.5', channel => '@cmd');
add(click_id => 'e' x 32, visited_on => ms('2024-02-20T06:30:00.000'),       # 20 Feb noon
    campaign_name => "a, \"b\"\nc", message_id => "tab\tfirst", created_on => '');
add(click_id => 'f' x 32, visited_on => ms('2024-02-20T18:29:59.999'));      # 20 Feb 23:59:59.999: in
add(click_id => '0' x 32, visited_on => ms('2024-02-20T18:30:00.000'));      # 21 Feb 00:00 IST: out
# A crawler's click inside the period: left out unless --include-non-human.
add(click_id => '9' x 32, visited_on => ms('2024-02-19T10:00:00.000'), non_human => 'bot', campaign_name => 'crawler');
# gamma: same zone and period, must never show up in acme's report.
add(click_id => '1' x 32, visited_on => ms('2024-02-19T10:00:00.000'), company_id => 'gamma',
    campaign_name => 'gamma-secret');

# beta (Europe/Berlin): 2024-03-31 has 23 hours, 2024-10-27 has 25.
my %beta = (company_id => 'beta');
add(%beta, click_id => '2' . '0' x 31, visited_on => ms('2024-03-30T22:59:59.999'));  # 30 Mar 23:59:59.999 CET
add(%beta, click_id => '2' . '1' x 31, visited_on => ms('2024-03-30T23:00:00.000'));  # 31 Mar 00:00 CET
add(%beta, click_id => '2' . '2' x 31, visited_on => ms('2024-03-31T01:30:00.000'));  # 03:30 CEST
add(%beta, click_id => '2' . '3' x 31, visited_on => ms('2024-03-31T21:59:59.999'));  # 23:59:59.999 CEST
add(%beta, click_id => '2' . '4' x 31, visited_on => ms('2024-03-31T22:00:00.000'));  # 1 Apr 00:00 CEST
add(%beta, click_id => '3' . '1' x 31, visited_on => ms('2024-10-26T22:00:00.000'));  # 27 Oct 00:00 CEST
add(%beta, click_id => '3' . '2' x 31, visited_on => ms('2024-10-27T00:30:00.000'));  # 02:30 CEST
add(%beta, click_id => '3' . '3' x 31, visited_on => ms('2024-10-27T01:30:00.000'));  # 02:30 CET
add(%beta, click_id => '3' . '4' x 31, visited_on => ms('2024-10-27T22:59:59.999'));  # 23:59:59.999 CET
add(%beta, click_id => '3' . '5' x 31, visited_on => ms('2024-10-27T23:00:00.000'));  # 28 Oct 00:00 CET

my ($rc, $out, $err) = lr('drain', '--once');
is($out, "drained: 19 stored, 0 duplicates, 0 dead letters\n", 'clicks drained') or diag($err);

my $header = "SHORT_URL,TXTLY_ID,MOBILE NUMBER,CLIENT IP,BROWSER,PLATFORM,PLATFORM VERSION,DEVICE BRAND,COUNTRY,CITY,VISITED ON,DEVICE TYPE,CREATED_ON,LONG_URL,CHANNEL,MESSAGE_ID,COMPANY_ID,CAMPAIGN_NAME,TEMPLATE_ID\r\n";
my $pre = 'http://klr.bz/QS6/2rdK6,1234564';
my $mid = '49.36.100.231,Chrome,AndroidOS,10,WebKit,India';
my $long = 'https://abc.xyz.net/docs/1xxJPEG.jpeg';
my $created = '14/12/2024 12:08:49 PM';
my $expected = $header
  . "$pre,919876543210,$mid,Bengaluru,19/2/2024 12:00:00 AM,Phone,$created,$long,SMS,msg-1,acme,spring,tpl-1\r\n"
  . "$pre,+4915112345678,$mid,Bengaluru,19/2/2024 2:54:51 PM,Phone,$created,$long,SMS,msg-1,acme,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\",tpl-1\r\n"
  . "$pre,919876543210,$mid,\" Leading space\",20/2/2024 12:00:00 AM,Phone,$created,$long,'\@cmd,msg-1,acme,spring,-12.5\r\n"
  . "$pre,919876543210,$mid,Bengaluru,20/2/2024 12:00:00 PM,Phone,,$long,SMS,tab\tfirst,acme,\"a, \"\"b\"\"\nc\",tpl-1\r\n"
  . "$pre,919876543210,$mid,Bengaluru,20/2/2024 11:59:59 PM,Phone,$created,$long,SMS,msg-1,acme,spring,tpl-1\r\n";

($rc, $out, $err) = lr('report', '--company', 'acme', '--from', '2024-02-19', '--to', '2024-02-20');
is($rc, 0, 'report exits 0') or diag($err);
is($err, '', 'nothing on stderr when writing to stdout');
is($out, $expected, 'exact CSV: header, order, IST dates, midnight/noon, boundaries, quoting, guard');
unlike($out, qr/gamma/, "no other company's clicks");

($rc, $out, $err) = lr('report', '--company', 'acme', '--from', '2024-02-19', '--to', '2024-02-20', '--include-non-human');
is($rc, 0, 'report --include-non-human exits 0') or diag($err);
my @with = split /\r\n/, $out;
is(scalar @with, 7, '--include-non-human: the crawler\'s click too');
like($with[3], qr/,acme,crawler,/, 'in its place by time');

# Same report into a file.
my $dir = tempdir(CLEANUP => 1);
($rc, $out, $err) = lr('report', '--company', 'acme', '--from', '2024-02-19', '--to', '2024-02-20',
                       '--out', "$dir/acme.csv");
is($rc, 0, 'report --out exits 0');
is($out, '', 'nothing on stdout with --out');
is($err, "report: 5 rows\n", 'summary on stderr');
my $file = do { local (@ARGV, $/) = "$dir/acme.csv"; <> };
is($file, $expected, 'file content identical');
opendir(my $dh, $dir);
is_deeply([sort grep { !/^\./ } readdir $dh], ['acme.csv'], 'no temporary file left behind');

# One day only, and an empty period.
($rc, $out) = lr('report', '--company', 'acme', '--from', '2024-02-20', '--to', '2024-02-20');
is(scalar(() = $out =~ /\r\n/g), 1 + 3, 'single day: 20 Feb has 3 clicks');
($rc, $out) = lr('report', '--company', 'acme', '--from', '2023-01-01', '--to', '2023-12-31');
is($out, $header, 'empty period: header only');

# Tenant isolation the other way round.
($rc, $out) = lr('report', '--company', 'gamma', '--from', '2024-02-01', '--to', '2024-02-29');
my @rows = split /\r\n/, $out;
is(scalar @rows, 2, 'gamma sees its one click');
like($rows[1], qr/,gamma,gamma-secret,/, 'and it is gamma\'s');

# Europe/Berlin DST days: visited-on column and the rows included.
sub visited_column {
    my ($o) = @_;
    my @lines = split /\r\n/, $o;
    shift @lines;
    return [map { (split /,/)[10] } @lines];
}
($rc, $out) = lr('report', '--company', 'beta', '--from', '2024-03-31', '--to', '2024-03-31');
is_deeply(visited_column($out), ['31/3/2024 12:00:00 AM', '31/3/2024 3:30:00 AM', '31/3/2024 11:59:59 PM'],
          'spring-forward day: exactly its 23 hours');
like($out, qr/,14\/12\/2024 7:38:49 AM,/, 'CREATED_ON in Berlin time');
($rc, $out) = lr('report', '--company', 'beta', '--from', '2024-10-27', '--to', '2024-10-27');
is_deeply(visited_column($out), ['27/10/2024 12:00:00 AM', '27/10/2024 2:30:00 AM', '27/10/2024 2:30:00 AM',
                                 '27/10/2024 11:59:59 PM'], 'fall-back day: exactly its 25 hours');

# Refusals.
for my $case ([['--company', 'nobody', '--from', '2024-01-01', '--to', '2024-01-02'], qr/unknown company 'nobody'/],
              [['--company', 'acme', '--from', '2024-01-02', '--to', '2024-01-01'], qr/--from 2024-01-02 is after --to 2024-01-01/],
              [['--company', 'acme', '--from', '2024-02-30', '--to', '2024-03-01'], qr/--from must be a date YYYY-MM-DD/],
              [['--company', 'acme', '--from', '2024-01-01', '--to', 'tomorrow'], qr/--to must be a date YYYY-MM-DD/]) {
    ($rc, $out, $err) = lr('report', @{$case->[0]});
    is($rc, 65, "report @{$case->[0]} exits 65");
    like($err, qr/^linkreport: report: $case->[1]\n\z/, 'one-line message');
    is($out, '', 'no CSV');
}
($rc, $out, $err) = lr('report', '--company', 'acme', '--from', '2024-02-19', '--to', '2024-02-20',
                       '--out', "$dir/missing-dir/x.csv");
is($rc, 64, 'unwritable --out exits 64');
like($err, qr/^linkreport: report: cannot create /, 'says so');

# A path that is there and is not a regular file (a FIFO, a symbolic link) is not replaced.
system('mkfifo', "$dir/fifo.csv") == 0 or die "mkfifo: $!";
symlink("$dir/acme.csv", "$dir/link.csv") or die "symlink: $!";
for my $target ("$dir/fifo.csv", "$dir/link.csv") {
    my ($frc, $fout, $ferr) = lr('report', '--company', 'acme', '--from', '2024-02-01', '--to', '2024-02-29',
                                 '--out', $target);
    is($frc, 64, "--out $target (not a regular file): 64");
    like($ferr, qr/\Q$target\E exists and is not a regular file; not replaced/, '... says so');
}
ok(-p "$dir/fifo.csv" && -l "$dir/link.csv", 'both left as they were');

# PostgreSQL lost in the middle of a report (an administrator ends the backend, a
# failover): 69 "unavailable", like a failed connect, not 70. 300,000 rows (about 30 MB of
# CSV) so the report is still streaming when its backend is terminated.
lr_ok('company', 'create', '--id', 'big', '--name', 'Big', '--timezone', 'UTC', '--owner-email', 'o@big.example');
psql(q{INSERT INTO clicks (click_id, stream_id, company_id, visited_on, short_url, long_url, user_agent, campaign_name)
       SELECT md5(i::text), i || '-0', 'big', timestamptz '2024-05-01' + i * interval '10 seconds',
              'http://klr.bz/big', 'https://big.example/a/long/path?i=' || i, 'Mozilla/5.0 (X11; Linux x86_64)', 'bulk'
       FROM generate_series(1, 300000) i});
my @big = ('report', '--company', 'big', '--from', '2024-05-01', '--to', '2024-05-31');
# Ends this database's linkreport backends; returns how many.
sub terminate_reporter {
    return psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database()"
                . " AND application_name = 'linkreport' AND pid <> pg_backend_pid()");
}
sub finish_status {
    my ($h) = @_;
    $h->finish;
    return $h->result(0);
}

# To stdout: once 200 KB of rows have arrived.
{
    my ($in, $csv, $errs) = ('', '', '');
    my $h = IPC::Run::start([LRTest::binary(), @big], \$in, \$csv, \$errs, IPC::Run::timeout(120));
    $h->pump while length($csv) < 200_000 && $h->pumpable;
    is(terminate_reporter(), 1, 'the report\'s backend terminated while rows stream');
    my $rc = finish_status($h);
    is($rc, 69, 'connection lost mid-stream: exit 69, not 70') or diag($errs);
    like($errs, qr/^linkreport: report: PostgreSQL connection lost after (\d+) rows: [^\n]+; the report is incomplete, run it again\n\z/,
         'one line: connection lost after N rows, incomplete');
    my ($n) = $errs =~ /after (\d+) rows/;
    ok(defined $n && $n > 0 && $n < 300_000, 'N counts the rows written before (' . ($n // '?') . ')');
    unlike($errs, qr/Sanitizer|runtime error:/, 'no sanitizer report');
}
# To a file: no file, no temporary file left.
{
    my ($in, $o, $errs) = ('', '', '');
    my $h = IPC::Run::start([LRTest::binary(), @big, '--out', "$dir/big.csv"], \$in, \$o, \$errs, IPC::Run::timeout(120));
    my $tmp;
    for (1 .. 12000) {
        ($tmp) = glob("$dir/big.csv.tmp.*");
        last if $tmp && -s $tmp > 200_000;
        select(undef, undef, undef, 0.005);
    }
    ok($tmp && -s $tmp > 200_000, 'the report is being written');
    is(terminate_reporter(), 1, 'its backend terminated');
    is(finish_status($h), 69, 'connection lost writing --out: exit 69') or diag($errs);
    like($errs, qr/^linkreport: report: PostgreSQL connection lost after \d+ rows: [^\n]+; the report is incomplete, run it again\n\z/,
         'the same message');
    ok(!-e "$dir/big.csv" && !glob("$dir/big.csv*"), 'neither the report nor its temporary file is left');
    unlike($errs, qr/Sanitizer|runtime error:/, 'no sanitizer report');
}
# PostgreSQL works again: the same report is complete.
my $may = psql("SELECT count(*) FROM clicks WHERE company_id = 'big' AND visited_on < '2024-06-01'");
($rc, $out, $err) = lr(@big, '--out', "$dir/big.csv");
is($err, "report: $may rows\n", "run again: the whole month ($may rows)") or diag($err);

done_testing();
