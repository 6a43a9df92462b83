#!/usr/bin/perl
# Schedule windows: the send time (10:00 local) and the exact period (local midnight to
# local midnight) for America/New_York and Europe/Berlin across both DST changes,
# Asia/Kolkata (+5:30), Asia/Kathmandu (+5:45) and a year end, for each frequency. Each
# case is its own company with a click just before, at, at the last millisecond of and just
# after its period; the report mailed must hold exactly the two inside.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use MIME::Base64 qw(decode_base64);
use POSIX qw(strftime);
use Test::More;
use Time::Local qw(timegm);
use LRTest;
use LRMail;

setup_isolated('windows');
my ($port, $maildir) = start_smtp();
my %env = mail_env($port, tempdir(CLEANUP => 1));
@ENV{keys %env} = values %env;

sub epoch {   # "2024-03-10T05:00:00Z" -> Unix seconds
    my ($y, $mo, $d, $h, $mi, $s) = $_[0] =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/ or die "bad $_[0]";
    return timegm($s, $mi, $h, $d, $mo - 1, $y);
}
sub iso { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $_[0]) }

# [time zone, frequency, period start, period end, first instant (UTC), end instant
#  (exclusive, UTC), send time (UTC)]
my @cases = (
    ['Asia/Kathmandu', 'monthly', '2024-01-03', '2024-02-02', '2024-01-02T18:15:00Z', '2024-02-02T18:15:00Z', '2024-02-03T04:15:00Z'],
    ['Asia/Kathmandu', 'weekly', '2024-02-12', '2024-02-18', '2024-02-11T18:15:00Z', '2024-02-18T18:15:00Z', '2024-02-19T04:15:00Z'],
    ['Asia/Kolkata', 'daily', '2024-02-19', '2024-02-19', '2024-02-18T18:30:00Z', '2024-02-19T18:30:00Z', '2024-02-20T04:30:00Z'],
    ['America/New_York', 'daily', '2024-03-10', '2024-03-10', '2024-03-10T05:00:00Z', '2024-03-11T04:00:00Z', '2024-03-11T14:00:00Z'],  # 23 h
    ['Europe/Berlin', 'daily', '2024-03-31', '2024-03-31', '2024-03-30T23:00:00Z', '2024-03-31T22:00:00Z', '2024-04-01T08:00:00Z'],     # 23 h
    ['Europe/Berlin', 'weekly', '2024-03-25', '2024-03-31', '2024-03-24T23:00:00Z', '2024-03-31T22:00:00Z', '2024-04-01T08:00:00Z'],
    ['Europe/Berlin', 'monthly', '2024-03-03', '2024-04-02', '2024-03-02T23:00:00Z', '2024-04-02T22:00:00Z', '2024-04-03T08:00:00Z'],
    ['Europe/Berlin', 'daily', '2024-10-27', '2024-10-27', '2024-10-26T22:00:00Z', '2024-10-27T23:00:00Z', '2024-10-28T09:00:00Z'],     # 25 h
    ['America/New_York', 'monthly', '2024-10-03', '2024-11-02', '2024-10-03T04:00:00Z', '2024-11-03T04:00:00Z', '2024-11-03T15:00:00Z'], # sent on the DST day
    ['America/New_York', 'daily', '2024-11-03', '2024-11-03', '2024-11-03T04:00:00Z', '2024-11-04T05:00:00Z', '2024-11-04T15:00:00Z'],  # 25 h
    ['America/New_York', 'weekly', '2024-10-28', '2024-11-03', '2024-10-28T04:00:00Z', '2024-11-04T05:00:00Z', '2024-11-04T15:00:00Z'],
    ['America/New_York', 'daily', '2024-12-31', '2024-12-31', '2024-12-31T05:00:00Z', '2025-01-01T05:00:00Z', '2025-01-01T15:00:00Z'],  # year end
    ['Europe/Berlin', 'monthly', '2024-12-03', '2025-01-02', '2024-12-02T23:00:00Z', '2025-01-02T23:00:00Z', '2025-01-03T09:00:00Z'],
    ['Asia/Kolkata', 'weekly', '2024-12-30', '2025-01-05', '2024-12-29T18:30:00Z', '2025-01-05T18:30:00Z', '2025-01-06T04:30:00Z'],
);

my $i = 0;
for my $c (@cases) {
    my ($tz, $freq, $ps, $pe, $start, $end, $send) = @$c;
    my $id = 'w' . $i++;
    lr_ok('company', 'create', '--id', $id, '--name', $id, '--timezone', $tz, '--owner-email', "$id\@ex.example");
    # Enabled an hour before the send time: only this period is due.
    lr_ok('--now', iso(epoch($send) - 3600), 'settings', 'set', '--company', $id, '--enable', "--$freq", 'on');
    my ($s, $e) = (epoch($start) * 1000, epoch($end) * 1000);
    my $n = 0;
    for my $ms ($s - 1, $s, $e - 1, $e) {
        xadd_click(click_fields(company_id => $id, visited_on => $ms, click_id => sprintf('%02x%030x', $i, ++$n)));
    }
}
my ($rc, $out, $err) = lr('drain', '--once');
is($rc, 0, 'clicks drained') or diag($err);

my %ticked;
$i = 0;
for my $c (@cases) {
    my ($tz, $freq, $ps, $pe, $start, $end, $send) = @$c;
    my $id = 'w' . $i++;
    my $what = "$id $tz $freq $ps..$pe";
    unless ($ticked{$send}) {
        my $same = grep { $_->[6] eq $send } @cases;
        ($rc, $out, $err) = lr('--now', iso(epoch($send) - 1), 'schedule', '--once');
        is($out, "schedule: 0 due, 0 sent, 0 failed\n", "$what: nothing due a second before the send time") or diag($err);
        ($rc, $out, $err) = lr('--now', iso(epoch($send)), 'schedule', '--once');
        is($out, "schedule: $same due, $same sent, 0 failed\n", "$what: due and sent at $send") or diag($err);
        $ticked{$send} = 1;
    }
    is(psql("SELECT concat_ws('|', period_start, period_end, to_char(send_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), state) FROM report_runs WHERE company_id = '$id'"),
       "$ps|$pe|$send|sent", "$what: run recorded");
    # Switched off (configuration kept): later ticks send this company nothing more.
    lr_ok('settings', 'set', '--company', $id, '--disable');
    my @new = grep { $_->{rcpt_tos}[0] eq "$id\@ex.example" } @{mails($maildir)};
    is(scalar @new, 1, "$what: one email, to the owner");
    my $m = $new[0] or next;
    my $period = $ps eq $pe ? $ps : "$ps to $pe";
    is($m->{subject}, "Links Detailed Report: $id, $freq $period", "$what: subject");
    my ($att) = grep { $_->{filename} } @{$m->{parts}};
    my $csv = decode_base64($att->{b64});
    my @rows = split /\r\n/, $csv;
    is(scalar @rows, 3, "$what: header and exactly the two clicks inside the period");
    my @ids = map { (split /,/)[16] } @rows[1 .. $#rows];
    is_deeply(\@ids, [$id, $id], "$what: only the company's own rows");
    like($m->{parts}[2]{text}, qr/Clicks: 2\r\n/, "$what: click count in the text");
}

# Ticking again at the last send time sends nothing more.
($rc, $out) = lr('--now', $cases[-1][6], 'schedule', '--once');
is($out, "schedule: 0 due, 0 sent, 0 failed\n", 'a repeated tick sends nothing');
is(scalar @{mails($maildir)}, scalar @cases, 'one email per case in all');

done_testing();
