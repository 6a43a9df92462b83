#!/usr/bin/perl
# Scheduled delivery: the MIME message parsed back, recipients and their own links,
# non-human clicks, tenant isolation, exactly once with two reporters, an outage, retries
# with backoff, cancellation, ad-hoc send, gzip and the attachment limit, TLS rules,
# retention.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use IPC::Run ();
use MIME::Base64 qw(decode_base64);
use Test::More;
use Time::Local qw(timegm);
use LRTest;
use LRMail;

setup_isolated('delivery');
my ($port, $maildir) = start_smtp();
my $reports = tempdir(CLEANUP => 1);
my %env = mail_env($port, $reports);
@ENV{keys %env} = values %env;

sub tick {
    my ($now, @env) = @_;
    local @ENV{map { $_->[0] } @env} = map { $_->[1] } @env;
    my ($rc, $out, $err) = lr('--now', $now, 'schedule', '--once');
    return ($rc, $out, $err);
}
sub ms { my ($y, $mo, $d, $h, $mi) = @_; return timegm(0, $mi, $h, $d, $mo - 1, $y) * 1000 }
sub attachment_csv {
    my ($m) = @_;
    my ($att) = grep { $_->{filename} } @{$m->{parts}};
    return undef unless $att;
    my $data = decode_base64($att->{b64});
    if ($att->{filename} =~ /\.gz$/) {
        my $plain;
        gunzip(\$data => \$plain) or die $GunzipError;
        return $plain;
    }
    return $data;
}

# --- The message, for a company with a non-ASCII name and two recipients.
lr_ok('company', 'create', '--id', 'zc', '--name', "Z\x{c3}\x{bc}rich Caf\x{c3}\x{a9} & <Co>", '--timezone', 'Europe/Berlin',
      '--owner-email', 'owner@zc.example');
lr_ok('company', 'create', '--id', 'other', '--name', 'Other', '--timezone', 'Europe/Berlin', '--owner-email', 'o@other.example');
lr_ok('--now', '2024-05-01T12:00:00+02:00', 'settings', 'set', '--company', 'zc', '--enable', '--daily', 'on',
      '--recipients', 'ann@zc.example,bob+reports@zc.example');
# 1 May 2024 (Berlin): two people, one bot, one preview; another company's click.
xadd_click(click_fields(company_id => 'zc', visited_on => ms(2024, 5, 1, 8, 0), campaign_name => 'human-1'));
xadd_click(click_fields(company_id => 'zc', visited_on => ms(2024, 5, 1, 9, 0), campaign_name => 'human-2'));
xadd_click(click_fields(company_id => 'zc', visited_on => ms(2024, 5, 1, 10, 0), campaign_name => 'bot', non_human => 'bot'));
xadd_click(click_fields(company_id => 'zc', visited_on => ms(2024, 5, 1, 11, 0), campaign_name => 'preview', non_human => 'preview'));
xadd_click(click_fields(company_id => 'other', visited_on => ms(2024, 5, 1, 9, 30), campaign_name => 'other-secret'));
my ($rc, $out, $err) = lr('drain', '--once');
is($rc, 0, 'drained') or diag($err);

($rc, $out, $err) = tick('2024-05-02T10:00:00+02:00');
is($out, "schedule: 1 due, 1 sent, 0 failed\n", 'daily report sent at 10:00 local') or diag($err);
my $mails = mails($maildir);
is(scalar @$mails, 2, 'one message per recipient');
my %by = map { $_->{rcpt_tos}[0] => $_ } @$mails;
is_deeply([sort keys %by], ['ann@zc.example', 'bob+reports@zc.example'], 'to each recipient');
for my $r (sort keys %by) {
    my $m = $by{$r};
    is($m->{mail_from}, 'reports@linkreport.example', "$r: envelope sender");
    is($m->{to}, $r, "$r: To header");
    is($m->{from}, 'reports@linkreport.example', "$r: From header");
    ok($m->{date_ok}, "$r: Date parses ($m->{date})");
    like($m->{message_id}, qr/^<lr\.[A-Za-z0-9]{16}\@linkreport\.example>$/, "$r: Message-ID");
    is($m->{mime_version}, '1.0', "$r: MIME-Version");
    is($m->{subject}, "Links Detailed Report: Z\x{fc}rich Caf\x{e9} & <Co>, daily 2024-05-01", "$r: subject decodes");
    like($m->{raw_subject}, qr/^ =\?UTF-8\?B\?[A-Za-z0-9+\/=]+\?=(\r\n =\?UTF-8\?B\?[A-Za-z0-9+\/=]+\?=)*$/, "$r: subject as RFC 2047 encoded-words, folded");
    ok($m->{crlf_only}, "$r: CRLF line ends only");
    ok($m->{ascii_only}, "$r: 7-bit clean");
    cmp_ok($m->{max_line}, '<=', 78, "$r: no line over 78 octets (998 is the limit)");
    cmp_ok($m->{b64_max_line}, '<=', 76, "$r: base64 at most 76 columns");
    is_deeply($m->{defects}, [], "$r: no MIME defects");
    is_deeply([map { $_->{type} } @{$m->{parts}}],
              ['multipart/mixed', 'multipart/alternative', 'text/plain', 'text/html', 'text/csv'], "$r: structure");
    my ($text, $html, $att) = @{$m->{parts}}[2, 3, 4];
    is($att->{disposition}, 'attachment', "$r: CSV attached");
    is($att->{filename}, 'zc_daily_2024-05-01_2024-05-01.csv', "$r: attachment name");
    like($text->{text}, qr/Company: Z\x{fc}rich Caf\x{e9} & <Co> \(zc\)\r\n.*Period: 2024-05-01 00:00 to 2024-05-01 23:59:59 \(Europe\/Berlin\)\r\nClicks: 2\r\n/s, "$r: text: company, period, clicks");
    (my $enc = $r) =~ s/\+/%2B/g;
    my ($url) = $text->{text} =~ m{(https://dl\.example/reports/zc/zc_daily_2024-05-01_2024-05-01\.csv\?r=\Q$enc\E&expires=\d+&md5=[A-Za-z0-9_-]{22})\r\n};
    ok($url, "$r: text: download link bound to the recipient");
    like($html->{text}, qr/Z\x{fc}rich Caf\x{e9} &amp; &lt;Co&gt;/, "$r: html: company escaped");
    like($html->{text}, qr/<td>2<\/td>/, "$r: html: clicks");
    (my $html_url = $url // '') =~ s/&/&amp;/g;
    like($html->{text}, qr/href="\Q$html_url\E"/, "$r: html: the same link");
    my $csv = attachment_csv($m);
    my @rows = split /\r\n/, $csv;
    is(scalar @rows, 3, "$r: CSV: header + two people (bot and preview left out)");
    is_deeply([map { (split /,/)[17] } @rows[1, 2]], ['human-1', 'human-2'], "$r: CSV: the people's rows");
    unlike($csv, qr/other/, "$r: CSV: no other company's rows");
}
isnt($by{'ann@zc.example'}{message_id}, $by{'bob+reports@zc.example'}{message_id}, 'Message-IDs differ');
ok(-f "$reports/zc/zc_daily_2024-05-01_2024-05-01.csv", 'report kept in the reports folder');
like(lr_ok('status', '--company', 'zc'), qr/^zc\tdaily\t2024-05-01\t2024-05-01\tsent\t1\t2\t2024-05-02T08:00:00Z\t\n  -\tann\@zc.example\tsent\t1\t2024-05-02T08:00:00Z\t\n  -\tbob\+reports\@zc.example\tsent/,
     'status: run and deliveries');

# include_non_human on, then an ad-hoc re-send of the same day.
lr_ok('settings', 'set', '--company', 'zc', '--include-non-human', 'on', '--recipients', 'ann@zc.example');
clear_mails($maildir);
($rc, $out, $err) = lr('--now', '2024-05-02T12:00:00+02:00', 'send', '--company', 'zc', '--frequency', 'daily', '--period-start', '2024-05-01');
is($rc, 0, 'send exits 0') or diag($err);
is($out, "send: zc daily 2024-05-01..2024-05-01: 4 rows, 1 of 1 recipients\n", 'send summary');
$mails = mails($maildir);
is(scalar @$mails, 1, 're-sent to the current recipients');
is(scalar(() = attachment_csv($mails->[0]) =~ /\r\n/g), 5, 'with non-human clicks when the company asks for them');
($rc, $out, $err) = lr('send', '--company', 'zc', '--frequency', 'weekly', '--period-start', '2024-05-01');
is($rc, 65, 'weekly period not starting on a Monday: 65');
like($err, qr/a weekly period starts on a Monday; 2024-05-01 is not one/, 'message');
($rc, $out, $err) = lr('send', '--company', 'zc', '--frequency', 'monthly', '--period-start', '2024-05-01');
like($err, qr/a monthly period starts on a 3rd/, 'monthly must start on a 3rd');
($rc, $out, $err) = lr('send', '--company', 'nobody', '--frequency', 'daily', '--period-start', '2024-05-01');
is($rc, 65, 'send: unknown company 65');
lr_ok('settings', 'set', '--company', 'zc', '--include-non-human', 'off', '--disable');

# --- Exactly once with two reporters: ten days due at once, two ticks side by side.
lr_ok('company', 'create', '--id', 'twin', '--name', 'Twin', '--timezone', 'Asia/Kolkata', '--owner-email', 't@twin.example');
lr_ok('--now', '2024-06-01T12:00:00+05:30', 'settings', 'set', '--company', 'twin', '--enable', '--daily', 'on',
      '--recipients', 't1@twin.example,t2@twin.example');
clear_mails($maildir);
my @runs;
for (1 .. 2) {
    my ($o, $e) = ('', '');
    push @runs, [IPC::Run::start([LRTest::binary(), '--now', '2024-06-11T10:30:00+05:30', 'schedule', '--once'], \(my $in = ''), \$o, \$e), \$o, \$e];
}
my $sent = 0;
for my $r (@runs) {
    $r->[0]->finish;
    is($r->[0]->full_result(0) >> 8, 0, 'concurrent reporter exits 0') or diag(${$r->[2]});
    ${$r->[1]} =~ /(\d+) sent/ and $sent += $1;
}
is($sent, 10, 'ten runs sent between them');
$mails = mails($maildir);
is(scalar @$mails, 20, 'twenty messages: ten days, two recipients, none twice');
my %uniq = map { ("$_->{rcpt_tos}[0] $_->{subject}" => 1) } @$mails;
is(scalar keys %uniq, 20, 'each (recipient, period) once');
my @t1 = map { /daily (\S+)$/ ? $1 : '' } map { $_->{subject} } grep { $_->{rcpt_tos}[0] eq 't1@twin.example' } @$mails;
is_deeply([sort @t1], [map { sprintf '2024-06-%02d', $_ } 1 .. 10], 'the ten days 1..10 June');
($rc, $out) = tick('2024-06-11T10:30:00+05:30');
is($out, "schedule: 0 due, 0 sent, 0 failed\n", 'a third tick sends nothing');

# --- Outage: nothing runs from 12 June 10:30 to 15 June 10:30; the missed days go out
# once, oldest first.
clear_mails($maildir);
tick('2024-06-12T10:30:00+05:30');
($rc, $out) = tick('2024-06-16T10:30:00+05:30');
is($out, "schedule: 4 due, 4 sent, 0 failed\n", 'after the outage: the four missed days');
@t1 = map { /daily (\S+)$/ ? $1 : '' } map { $_->{subject} } grep { $_->{rcpt_tos}[0] eq 't1@twin.example' } @{mails($maildir)};
is_deeply(\@t1, ['2024-06-11', '2024-06-12', '2024-06-13', '2024-06-14', '2024-06-15'], 'in order, each once');
lr_ok('settings', 'set', '--company', 'twin', '--disable');

# --- A run locked by another reporter (sending, or crashed mid-transaction) is skipped,
# then sent once the lock is gone.
lr_ok('company', 'create', '--id', 'lk', '--name', 'Lock', '--timezone', 'UTC', '--owner-email', 'l@lk.example');
lr_ok('--now', '2024-07-01T00:00:00Z', 'settings', 'set', '--company', 'lk', '--enable', '--daily', 'on');
clear_mails($maildir);
($rc, $out) = tick('2024-07-01T09:00:00Z');   # enqueues nothing yet (10:00 not reached)
psql("INSERT INTO report_runs (company_id, frequency, period_start, period_end, send_at, next_attempt_at) VALUES ('lk', 'daily', '2024-06-30', '2024-06-30', '2024-07-01 10:00Z', '2024-07-01 10:00Z')");
my ($po, $pe) = ('', '');
my $holder = IPC::Run::start(['psql', '-X', '-q', '-d', $ENV{LINKREPORT_DB}, '-c',
    "BEGIN; SELECT 1 FROM report_runs WHERE company_id = 'lk' FOR NO KEY UPDATE; SELECT pg_sleep(5); ROLLBACK;"], \(my $pin = ''), \$po, \$pe);
# the holder has the row once it sleeps; a loaded machine may take a while to get there
for (1 .. 100) {
    last if psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(5)%' AND wait_event = 'PgSleep'") eq '1';
    select(undef, undef, undef, 0.1);
}
($rc, $out) = tick('2024-07-01T10:05:00Z');
is($out, "schedule: 0 due, 0 sent, 0 failed\n", 'locked run skipped (SKIP LOCKED), not sent twice');
$holder->finish;
($rc, $out) = tick('2024-07-01T10:06:00Z');
is($out, "schedule: 0 due, 1 sent, 0 failed\n", 'sent once the holder is gone');
is(scalar @{mails($maildir)}, 1, 'one message');

# --- Retries: the server refuses (451), the run waits with backoff, then goes out once.
clear_mails($maildir);
open my $fh, '>', "$maildir/FAIL"; close $fh;
($rc, $out, $err) = tick('2024-07-02T10:00:00Z');
is($out, "schedule: 1 due, 0 sent, 1 failed\n", 'delivery refused');
like($err, qr/lk daily 2024-07-01 to l\@lk.example failed: SMTP 451/, 'failure logged');
like(lr_ok('status', '--company', 'lk'), qr/^lk\tdaily\t2024-07-01\t2024-07-01\tpending\t1\t0\t\tl\@lk.example: SMTP 451/m, 'status: pending, attempt 1, error');
is(psql("SELECT next_attempt_at = '2024-07-02 10:05Z' FROM report_runs WHERE company_id = 'lk' AND period_start = '2024-07-01'"), 't', 'next attempt after 300 s');
($rc, $out) = tick('2024-07-02T10:04:59Z');
is($out, "schedule: 0 due, 0 sent, 0 failed\n", 'not retried before the backoff');
($rc, $out) = tick('2024-07-02T10:05:00Z');
is($out, "schedule: 0 due, 0 sent, 1 failed\n", 'second attempt fails too');
is(psql("SELECT concat_ws('|', attempts, next_attempt_at = '2024-07-02 10:15Z') FROM report_runs WHERE company_id = 'lk' AND period_start = '2024-07-01'"), '2|t', 'backoff doubles');
unlink "$maildir/FAIL";
($rc, $out) = tick('2024-07-02T10:15:00Z');
is($out, "schedule: 0 due, 1 sent, 0 failed\n", 'third attempt succeeds');
is(scalar @{mails($maildir)}, 1, 'delivered once');
like(lr_ok('status', '--company', 'lk'), qr/^lk\tdaily\t2024-07-01\t2024-07-01\tsent\t3\t0\t2024-07-02T10:15:00Z\t$/m, 'status: sent after 3 attempts');
# Giving up after LINKREPORT_SEND_MAX_ATTEMPTS.
open $fh, '>', "$maildir/FAIL"; close $fh;
($rc, $out) = tick('2024-07-03T10:00:00Z', [LINKREPORT_SEND_MAX_ATTEMPTS => 1]);
like(lr_ok('status', '--company', 'lk'), qr/^lk\tdaily\t2024-07-02\t2024-07-02\tfailed\t1\t/m, 'failed for good after the last attempt');
# Switched off while a run waits: cancelled, never sent.
lr_ok('--now', '2024-07-04T09:00:00Z', 'settings', 'set', '--company', 'lk', '--disable');
psql("UPDATE report_runs SET state = 'pending' WHERE company_id = 'lk' AND period_start = '2024-07-02'");
unlink "$maildir/FAIL";
clear_mails($maildir);
($rc, $out) = tick('2024-07-04T10:00:00Z');
like(lr_ok('status', '--company', 'lk'), qr/^lk\tdaily\t2024-07-02\t2024-07-02\tcancelled\t/m, 'switched off: cancelled');
is(scalar @{mails($maildir)}, 0, 'nothing sent');

# --- Large reports: gzip above the threshold, no attachment above the limit.
lr_ok('company', 'create', '--id', 'big', '--name', 'Big', '--timezone', 'UTC', '--owner-email', 'b@big.example');
lr_ok('--now', '2024-08-01T12:00:00Z', 'settings', 'set', '--company', 'big', '--enable', '--daily', 'on');
xadd_click(click_fields(company_id => 'big', visited_on => ms(2024, 8, 1, 12, $_))) for 0 .. 19;
lr('drain', '--once');
clear_mails($maildir);
($rc, $out) = tick('2024-08-02T10:00:00Z', [LINKREPORT_GZIP_ABOVE_BYTES => 1000]);
is($out, "schedule: 1 due, 1 sent, 0 failed\n", 'large report sent');
ok(-f "$reports/big/big_daily_2024-08-01_2024-08-01.csv.gz" && !-e "$reports/big/big_daily_2024-08-01_2024-08-01.csv", 'stored gzip-compressed');
my ($m) = @{mails($maildir)};
my ($att) = grep { $_->{filename} } @{$m->{parts}};
is($att->{type}, 'application/gzip', 'attached as gzip');
is(scalar(() = attachment_csv($m) =~ /\r\n/g), 21, 'which holds the 20 rows');
like($m->{parts}[2]{text}, qr{\.csv\.gz\?r=b\@big\.example&}, 'link to the gzip file');
clear_mails($maildir);
($rc, $out) = tick('2024-08-03T10:00:00Z', [LINKREPORT_ATTACH_MAX_BYTES => 100]);
($m) = @{mails($maildir)};
is(scalar(grep { $_->{filename} } @{$m->{parts}}), 0, 'above LINKREPORT_ATTACH_MAX_BYTES: not attached');
like($m->{parts}[2]{text}, qr/too large to attach; download it with the link/, 'and the text says so');

# --- Retention: files older than LINKREPORT_REPORTS_KEEP_DAYS go on the next tick.
utime(timegm(0, 0, 0, 1, 0, 2024), timegm(0, 0, 0, 1, 0, 2024), "$reports/big/big_daily_2024-08-01_2024-08-01.csv.gz");
tick('2024-08-03T11:00:00Z', [LINKREPORT_REPORTS_KEEP_DAYS => 30]);
ok(!-e "$reports/big/big_daily_2024-08-01_2024-08-01.csv.gz", 'expired report removed');
ok(-e "$reports/big/big_daily_2024-08-02_2024-08-02.csv", 'recent report kept');

# --- TLS rules: never credentials in clear.
($rc, $out, $err) = tick('2024-08-04T10:00:00Z', [LINKREPORT_SMTP_USER => 'u'], [LINKREPORT_SMTP_PASSWORD => 'pw-s3cr3t']);
is($rc, 64, 'credentials without TLS: refused (64)');
like($err, qr/refusing to send SMTP credentials without TLS/, 'says why');
unlike($err, qr/s3cr3t/, 'password not printed');
clear_mails($maildir);
($rc, $out, $err) = tick('2024-08-04T10:00:00Z', [LINKREPORT_SMTP_TLS => 'starttls'], [LINKREPORT_SMTP_USER => 'u'], [LINKREPORT_SMTP_PASSWORD => 'pw-s3cr3t']);
is($out, "schedule: 1 due, 0 failed\n", 'x') if 0;
like($out, qr/1 failed/, 'STARTTLS required but not offered: delivery fails');
unlike($err, qr/s3cr3t/, 'password not printed');
is(scalar @{mails($maildir)}, 0, 'nothing sent in clear');
($rc, $out, $err) = tick('2024-08-04T10:00:00Z', [LINKREPORT_SMTP_URL => "smtps://127.0.0.1:$port"], [LINKREPORT_SMTP_TLS => 'starttls']);
is($rc, 64, 'starttls with an smtps:// URL: 64');
($rc, $out, $err) = tick('2024-08-04T10:00:00Z', [LINKREPORT_DOWNLOAD_SECRET => 'short']);
is($rc, 64, 'a short download secret is refused');
unlike($err, qr/short/, 'and not printed');

done_testing();
