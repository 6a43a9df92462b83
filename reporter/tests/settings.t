#!/usr/bin/perl
# settings set/show, company set: the product's rules (toggle, any frequencies, recipients
# with the owner's address by default, disable keeps the configuration) and refusals that
# change nothing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use LRTest;

setup_isolated('settings');
lr_ok('company', 'create', '--id', 'acme', '--name', 'Acme', '--timezone', 'Europe/Berlin',
      '--owner-email', 'owner@acme.example');

my $out = lr_ok('settings', 'show', '--company', 'acme');
is($out, "company: acme\nenabled: no\nfrequencies: none\nrecipients: owner\@acme.example\n"
       . "include_non_human: no\ntimezone: Europe/Berlin\n", 'defaults: off, the owner as recipient');

$out = lr_ok('--now', '2024-03-01T09:00:00+01:00', 'settings', 'set', '--company', 'acme', '--enable',
             '--daily', 'on', '--monthly', 'on');
like($out, qr/^enabled: yes\nfrequencies: daily,monthly\nrecipients: owner\@acme.example\n/m, 'enabled with two frequencies');
is(psql("SELECT concat_ws('|', daily_since, weekly_since IS NULL, monthly_since) FROM report_settings"),
   '2024-03-01 08:00:00+00|t|2024-03-01 08:00:00+00', 'activation times recorded (from --now)');

$out = lr_ok('settings', 'set', '--company', 'acme', '--recipients', ' a@x.example, B@y.example ,a@x.example');
like($out, qr/^recipients: a\@x.example,B\@y.example$/m, 'recipients trimmed, duplicates dropped');

# Refusals: exit status, message, nothing changed.
my $before = psql('SELECT concat_ws(\'|\', enabled, daily, weekly, monthly, recipients, include_non_human, daily_since) FROM report_settings');
my @refusals = (
    [65, ['--recipients', ''], qr/--recipients needs at least one address/],
    [65, ['--recipients', ' , '], qr/--recipients has an empty entry/],
    [65, ['--recipients', 'a@x.example,'], qr/--recipients has an empty entry/],
    [65, ['--recipients', 'a@x.example,not-an-address'], qr/--recipients: 'not-an-address' must contain exactly one @/],
    [65, ['--recipients', 'a@x.example;b@y.example'], qr/--recipients: 'a\@x.example;b\@y.example' must not contain , ; " < or >/],
    [65, ['--recipients', "a\@x.example\r\nBcc: evil\@z.example"], qr/--recipients: 'a\@x.example\?\?Bcc: evil\@z.example' must be printable ASCII without spaces\n\z/],
    [65, ['--recipients', 'ops@localhost'], qr/--recipients: 'ops\@localhost' must have a domain with a dot/],
    [64, ['--daily', 'maybe'], qr/--daily must be on or off/],
    [64, ['--enable', '--disable'], qr/--enable and --disable exclude each other/],
);
for my $r (@refusals) {
    my ($code, $args, $re) = @$r;
    my ($rc, $o, $err) = lr('settings', 'set', '--company', 'acme', '--weekly', 'on', @$args);
    (my $what = "@$args") =~ s/[\r\n]/?/g;
    is($rc, $code, "exit $code for $what");
    like($err, qr/^linkreport: settings set: $re/, "message for $what");
    is($o, '', "no output for $what");
}
my ($rc, $o, $err) = lr('settings', 'set', '--company', 'nobody', '--enable');
is($rc, 65, 'unknown company: 65');
like($err, qr/^linkreport: settings set: unknown company 'nobody'/, 'unknown company message');
($rc, $o, $err) = lr('settings', 'show', '--company', 'nobody');
is($rc, 65, 'show unknown company: 65');
is(psql('SELECT concat_ws(\'|\', enabled, daily, weekly, monthly, recipients, include_non_human, daily_since) FROM report_settings'),
   $before, 'refusals changed nothing');
is(psql('SELECT count(*) FROM report_settings'), 1, 'no settings for an unknown company');

# Disabling keeps the configuration; enabling again reapplies it with new activation times.
$out = lr_ok('--now', '2024-03-05T12:00:00+01:00', 'settings', 'set', '--company', 'acme', '--disable');
like($out, qr/^enabled: no\nfrequencies: daily,monthly\nrecipients: a\@x.example,B\@y.example$/m, 'disabled, configuration kept');
is(psql("SELECT concat_ws('|', daily_since IS NULL, monthly_since IS NULL) FROM report_settings"), 't|t', 'not active while disabled');
$out = lr_ok('--now', '2024-03-08T12:00:00+01:00', 'settings', 'set', '--company', 'acme', '--enable');
like($out, qr/^enabled: yes\nfrequencies: daily,monthly\nrecipients: a\@x.example,B\@y.example\ninclude_non_human: no$/m, 'enabled again: same configuration');
is(psql("SELECT concat_ws('|', daily_since, monthly_since) FROM report_settings"),
   '2024-03-08 11:00:00+00|2024-03-08 11:00:00+00', 'active from the new enable (no backfill of the disabled days)');
# Changing recipients or another frequency keeps an active frequency's start.
lr_ok('--now', '2024-03-09T12:00:00+01:00', 'settings', 'set', '--company', 'acme', '--weekly', 'on', '--include-non-human', 'on');
is(psql("SELECT concat_ws('|', daily_since, weekly_since, include_non_human) FROM report_settings"),
   '2024-03-08 11:00:00+00|2024-03-09 11:00:00+00|t', 'weekly starts now, daily keeps its start');
lr_ok('settings', 'set', '--company', 'acme', '--daily', 'off');
is(psql("SELECT daily_since IS NULL FROM report_settings"), 't', 'frequency off: inactive');

# company set: time zone and owner.
lr_ok('company', 'set', '--id', 'acme', '--timezone', 'Asia/Kathmandu');
is(psql("SELECT timezone FROM companies WHERE id = 'acme'"), 'Asia/Kathmandu', 'time zone changed');
($rc, $o, $err) = lr('company', 'set', '--id', 'acme', '--timezone', 'Mars/Olympus');
is($rc, 65, 'unknown time zone: 65');
like($err, qr/^linkreport: company set: unknown time zone 'Mars\/Olympus'/, 'unknown time zone message');
for my $tz ('localtime', 'Factory', 'posix/Asia/Kolkata', 'Asia/../Europe/Berlin') {
    ($rc, $o, $err) = lr('company', 'set', '--id', 'acme', '--timezone', $tz);
    is($rc, 65, "company set --timezone $tz: 65");
    like($err, qr/^linkreport: company set: unknown time zone '\Q$tz\E' \(use an IANA region zone/, 'says so');
}
($rc, $o, $err) = lr('company', 'set', '--id', 'acme', '--owner-email', 'a@-.-');
is($rc, 65, 'company set --owner-email a@-.-: 65');
like($err, qr/^linkreport: company set: --owner-email must have domain labels that do not start or end with a hyphen/, 'says so');
is(psql("SELECT owner_email FROM companies WHERE id = 'acme'"), 'owner@acme.example', 'owner email unchanged');
($rc, $o, $err) = lr('company', 'set', '--id', 'nobody', '--timezone', 'Europe/Berlin');
is($rc, 65, 'company set: unknown company 65');
like($err, qr/unknown company 'nobody'/, 'message');
is(psql("SELECT timezone FROM companies WHERE id = 'acme'"), 'Asia/Kathmandu', 'refusals changed nothing');

# A fresh company's first settings default to its owner.
lr_ok('company', 'create', '--id', 'beta', '--name', 'Beta', '--timezone', 'Asia/Kolkata', '--owner-email', 'boss@beta.example');
$out = lr_ok('settings', 'set', '--company', 'beta', '--enable', '--weekly', 'on');
like($out, qr/^recipients: boss\@beta.example$/m, 'owner address by default');

for my $cmd (['settings', 'set'], ['settings', 'show'], ['company', 'set'], ['schedule'], ['run'], ['send'], ['status'], ['download-url']) {
    ($rc, $o) = lr(@$cmd, '--help');
    is($rc, 0, "@$cmd --help exits 0");
    like($o, qr/^usage: linkreport \Q@$cmd\E/, "@$cmd --help prints its usage");
}
done_testing();
