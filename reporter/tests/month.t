#!/usr/bin/perl
# A simulated month: a Europe/Berlin company with daily, weekly and monthly reports, the
# scheduler ticking every 6 hours of simulated time from 1 March to 3 April 2024 (DST
# starts on 31 March). After every tick the emails received are exactly those whose send
# time has passed; ticking the same month again sends nothing more. Then the real daemon
# (linkreport run) sends a report by itself and stops cleanly on SIGTERM.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use IPC::Run ();
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(sleep);
use Time::Local qw(timegm);
use LRTest;
use LRMail;

setup_isolated('month');
my ($port, $maildir) = start_smtp();
my %env = mail_env($port, tempdir(CLEANUP => 1));
@ENV{keys %env} = values %env;

sub iso { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $_[0]) }
sub day { strftime('%Y-%m-%d', gmtime $_[0]) }

lr_ok('company', 'create', '--id', 'acme', '--name', 'Acme', '--timezone', 'Europe/Berlin', '--owner-email', 'owner@acme.example');
lr_ok('--now', '2024-03-01T11:00:00+01:00', 'settings', 'set', '--company', 'acme', '--enable',
      '--daily', 'on', '--weekly', 'on', '--monthly', 'on');
# Clicks: 30 Mar 23:30 CET, 31 Mar 03:30 CEST, 1 Apr 12:00 CEST.
for my $t ([2024, 3, 30, 22, 30], [2024, 3, 31, 1, 30], [2024, 4, 1, 10, 0]) {
    my ($y, $mo, $d, $h, $mi) = @$t;
    xadd_click(click_fields(company_id => 'acme', visited_on => timegm(0, $mi, $h, $d, $mo - 1, $y) * 1000));
}
my ($rc, $out, $err) = lr('drain', '--once');
is($rc, 0, 'clicks drained') or diag($err);

# Expected emails: subject => send time (10:00 Berlin: 09:00Z before 31 March, 08:00Z from it).
my %expected;
for (my $d = timegm(0, 0, 0, 2, 2, 2024); $d <= timegm(0, 0, 0, 3, 3, 2024); $d += 86400) {
    my $send = $d + ($d >= timegm(0, 0, 0, 31, 2, 2024) ? 8 : 9) * 3600;
    my @wday = gmtime $d;
    $expected{'daily ' . day($d - 86400)} = $send;
    $expected{'weekly ' . day($d - 7 * 86400) . ' to ' . day($d - 86400)} = $send if $wday[6] == 1;
    $expected{'monthly ' . ({3 => '2024-02-03 to 2024-03-02', 4 => '2024-03-03 to 2024-04-02'}->{$wday[4] + 1})} = $send
        if $wday[3] == 3;
}
is(scalar keys %expected, 33 + 5 + 2, '33 daily, 5 weekly, 2 monthly reports expected');

my @ticks;
for (my $t = timegm(0, 0, 11, 1, 2, 2024); $t <= timegm(0, 0, 11, 3, 3, 2024); $t += 6 * 3600) {
    push @ticks, $t;
}
my $ok = 1;
for my $t (@ticks) {
    ($rc, $out, $err) = lr('--now', iso($t), 'schedule', '--once');
    if ($rc != 0) { $ok = 0; diag("tick " . iso($t) . ": $err"); last }
    my @got = sort map { $_->{subject} =~ /^Links Detailed Report: Acme, (.*)$/ ? $1 : "?$_->{subject}" } @{mails($maildir)};
    my @want = sort grep { $expected{$_} <= $t } keys %expected;
    unless ("@got" eq "@want") {
        $ok = 0;
        is_deeply(\@got, \@want, 'emails after tick ' . iso($t));
        last;
    }
}
ok($ok, scalar(@ticks) . ' ticks: after each one exactly the reports due so far, each once');
my $mails = mails($maildir);
is(scalar @$mails, 40, '40 emails in all');
my %count = map { ($_->{subject} => 1) } @$mails;
is(scalar keys %count, 40, 'no duplicates');

# Order of arrival: by send time; daily before weekly before monthly on the same day.
my @order = map { $_->{subject} =~ /Acme, (.*)$/ ? $1 : '' } @$mails;
my %freq_rank = (daily => 0, weekly => 1, monthly => 2);
my @sorted = sort { $expected{$a} <=> $expected{$b} || $freq_rank{(split / /, $a)[0]} <=> $freq_rank{(split / /, $b)[0]} } keys %expected;
is_deeply(\@order, \@sorted, 'sent in order');

# Click counts across the DST change.
my %by = map { (/Acme, (.*)$/ ? $1 : '') => $_ } map { $_->{subject} } @$mails;
my %mail_by = map { ($_->{subject} =~ /Acme, (.*)$/)[0] => $_ } @$mails;
like($mail_by{'daily 2024-03-30'}{parts}[2]{text}, qr/Clicks: 1\r\n/, '30 March (CET): 1 click');
like($mail_by{'daily 2024-03-31'}{parts}[2]{text}, qr/Clicks: 1\r\n/, '31 March (23 hours): 1 click');
like($mail_by{'weekly 2024-03-25 to 2024-03-31'}{parts}[2]{text}, qr/Clicks: 2\r\n/, 'week 25-31 March: 2 clicks');
like($mail_by{'monthly 2024-03-03 to 2024-04-02'}{parts}[2]{text}, qr/Clicks: 3\r\n/, 'month 3 March - 2 April: 3 clicks');

# The same ticks again: nothing more.
my $again = 0;
for my $t (@ticks) {
    ($rc, $out) = lr('--now', iso($t), 'schedule', '--once');
    $again++ unless $out eq "schedule: 0 due, 0 sent, 0 failed\n";
}
is($again, 0, 'replaying every tick sends nothing');
is(scalar @{mails($maildir)}, 40, 'still 40 emails');

# The daemon: drain + scheduler. Its clock starts two seconds before 10:00 on 4 April.
clear_mails($maildir);
my ($dout, $derr) = ('', '');
my $daemon = IPC::Run::start([LRTest::binary(), '--now', '2024-04-04T09:59:58+02:00', 'run', '--interval', '1', '--block-ms', '200'],
                             \(my $din = ''), \$dout, \$derr);
my $n = 0;
for (1 .. 100) {
    $daemon->pump_nb;
    $n = @{mails($maildir)};
    last if $n >= 1;
    sleep 0.2;
}
sleep 1.5;
$daemon->signal('TERM');
$daemon->finish;
is($daemon->full_result(0) >> 8, 0, 'daemon stops with status 0 on SIGTERM') or diag($derr);
$mails = mails($maildir);
is(scalar @$mails, 1, 'the running daemon sent the 3 April daily report by itself, once');
like($mails->[0]{subject} // '', qr/daily 2024-04-03$/, 'for 3 April');
like($dout, qr/^drained: \d+ stored.*\nschedule: 1 due, 1 sent, 0 failed\n\z/s, 'summaries on exit');

done_testing();
