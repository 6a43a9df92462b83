#!/usr/bin/perl
# linkreport run: the scheduler's sends and failures as metrics and log events, settings
# from a configuration file.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use Test::More;
use LRTest;
use LRMail;
use LROps;

setup_isolated('ops_run');
my ($smtp_port, $maildir) = start_smtp();
my $reports = tempdir(CLEANUP => 1);
my %env = mail_env($smtp_port, $reports);
# the mail settings from a file (keys are the variables' names without LINKREPORT_,
# lower case, '-' for '_'), the daemon's options from the environment
my $conf = "$reports/linkreport.conf";
open my $fh, '>', $conf or die $!;
for my $var (sort keys %env) {
    (my $key = lc($var =~ s/^LINKREPORT_//r)) =~ tr/_/-/;
    print {$fh} "$key = $env{$var}\n";
}
close $fh;
chmod 0600, $conf;
my $port = metrics_port(2);

lr_ok('company', 'create', '--id', 'ra', '--name', 'A', '--timezone', 'Europe/Berlin', '--owner-email', 'a@ra.example');
lr_ok('company', 'create', '--id', 'rb', '--name', 'B', '--timezone', 'Europe/Berlin', '--owner-email', 'b@rb.example');
lr_ok('--now', '2024-05-01T12:00:00+02:00', 'settings', 'set', '--company', 'ra', '--enable', '--daily', 'on',
      '--recipients', 'ann@ra.example,bob@ra.example');

local $ENV{LINKREPORT_INTERVAL} = 1;
local $ENV{LINKREPORT_METRICS_LISTEN} = $port;
my $d = daemon('--config', $conf, '--now', '2024-05-02T10:00:00+02:00', 'run', '--block-ms', '200',
               '--consumer', 'ops-run');
my $m = wait_until(20, sub { my $s = scrape($port); $s && $s->{linkreport_reports_sent_total} >= 1 ? $s : undef }, $d);
ok($m, 'the first tick sent company A\'s report') or diag(${ $d->{err} });
is($m->{linkreport_reports_sent_total}, 1, 'reports_sent_total = 1');
is($m->{linkreport_emails_sent_total}, 2, 'emails_sent_total = 2 (two recipients)');
is($m->{linkreport_emails_failed_total}, 0, 'no email failed');
is(scalar @{ mails($maildir) }, 2, 'and the sink has them');

# the sink refuses (451); company B becomes due at the next tick
open my $fail, '>', "$maildir/FAIL" or die $!;
close $fail;
lr_ok('--now', '2024-05-01T12:00:00+02:00', 'settings', 'set', '--company', 'rb', '--enable', '--daily', 'on',
      '--recipients', 'carl@rb.example');
$m = wait_until(20, sub { my $s = scrape($port); $s && $s->{linkreport_reports_failed_total} >= 1 ? $s : undef }, $d);
ok($m, 'company B\'s report failed') or diag(${ $d->{err} });
is($m->{linkreport_reports_failed_total}, 1, 'reports_failed_total = 1');
is($m->{linkreport_emails_failed_total}, 1, 'emails_failed_total = 1');
is($m->{linkreport_reports_sent_total}, 1, 'reports_sent_total still 1');
my ($rc, $out, $err) = stop_daemon($d);
is($rc, 0, 'run exits 0 on SIGTERM') or diag($err);

like($err, qr/^ts=\S+ level=info event=report_sent company=ra frequency=daily period_start=2024-05-01$/m, 'report_sent logged');
like($err, qr/^ts=\S+ level=info event=email_sent company=ra frequency=daily period_start=2024-05-01 recipient=ann\@ra\.example$/m, 'email_sent logged');
like($err, qr/^ts=\S+ level=warn event=email_failed company=rb frequency=daily period_start=2024-05-01 recipient=carl\@rb\.example error="SMTP 451[^"\n]*"$/m,
     'email_failed logged with the SMTP reply, quoted');
like($err, qr/^ts=\S+ level=warn event=report_failed company=rb /m, 'report_failed logged');
unlike($err, qr/test-secret-0123456789/, 'the download secret from the file is never logged');
done_testing();
