#!/usr/bin/perl
# company create: stores a company; refuses bad input without changing anything.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use LRTest;

setup_isolated('company');

my @good = ('--id', 'acme', '--name', 'Acme, Inc.', '--timezone', 'Asia/Kolkata',
            '--owner-email', 'owner@acme.example');
my $out = lr_ok('company', 'create', @good);
is($out, "acme\n", 'prints the id');
is(psql("SELECT concat_ws('|', id, name, timezone, owner_email) FROM companies"),
   'acme|Acme, Inc.|Asia/Kolkata|owner@acme.example', 'row stored');

my %base = ('--id' => 'beta', '--name' => 'Beta', '--timezone' => 'Europe/Berlin',
            '--owner-email' => 'ops@beta.example');
my @refusals = (
    [{'--id' => 'acme'}, qr/company 'acme' already exists/],
    [{'--timezone' => 'Mars/Olympus'}, qr/unknown time zone 'Mars\/Olympus'/],
    [{'--timezone' => 'CEST'}, qr/unknown time zone 'CEST'/],
    [{'--timezone' => ''}, qr/unknown time zone/],
    [{'--timezone' => "Europe/Berlin\n"}, qr/unknown time zone/],
    # Known to PostgreSQL, but not a region zone a company can live in.
    (map { [{'--timezone' => $_}, qr/unknown time zone '\Q$_\E' \(use an IANA region zone such as Europe\/Berlin, or UTC\)$/] }
     'localtime', 'Factory', 'posixrules', 'posix/Europe/Berlin', 'right/Europe/Berlin', 'US/Pacific',
     'EST5EDT', 'CET', 'GMT', 'Etc/GMT+5', '/usr/share/zoneinfo/Europe/Berlin', 'Europe/../Asia/Kolkata',
     '../../etc/passwd', 'Europe/Berlin Mitte', 'europe/berlin'),
    [{'--owner-email' => 'a@-.-'}, qr/--owner-email must have domain labels that do not start or end with a hyphen/],
    [{'--owner-email' => 'ops@beta-.example'}, qr/--owner-email must have domain labels that do not start or end with a hyphen/],
    [{'--owner-email' => 'ops@be_ta.example'}, qr/--owner-email must have a domain of letters, digits, hyphens and dots/],
    [{'--owner-email' => 'ops@10.0.0.1'}, qr/--owner-email must have a top-level domain that is not all digits/],
    [{'--owner-email' => 'no-at-sign.example'}, qr/--owner-email must contain exactly one @/],
    [{'--owner-email' => 'a@b@c.example'}, qr/--owner-email must contain exactly one @/],
    [{'--owner-email' => '@beta.example'}, qr/--owner-email must have a local part/],
    [{'--owner-email' => 'ops@localhost'}, qr/--owner-email must have a domain with a dot/],
    [{'--owner-email' => 'ops @beta.example'}, qr/--owner-email must be printable ASCII without spaces/],
    [{'--owner-email' => 'a@b.example,c@d.example'}, qr/--owner-email must not contain ,/],
    [{'--owner-email' => "ops\@beta.example\r\nBcc: x\@y.z"}, qr/--owner-email must be printable ASCII/],
    [{'--id' => 'bad id'}, qr/--id must match/],
    [{'--id' => 'x' x 65}, qr/--id must match/],
    [{'--name' => ''}, qr/--name must not be empty/],
    [{'--name' => "Beta\nGmbH"}, qr/--name must not contain control characters/],
);
for my $case (@refusals) {
    my ($over, $re) = @$case;
    my %args = (%base, %$over);
    my ($rc, $o, $err) = lr('company', 'create', %args);
    my $what = join ' ', map { "$_=$over->{$_}" } keys %$over;
    $what =~ s/[\r\n]/?/g;
    is($rc, 65, "exit 65 for $what");
    like($err, qr/^linkreport: company create: $re/, "message for $what");
    is($o, '', "no output for $what");
}
is(psql('SELECT count(*) FROM companies'), '1', 'refusals stored nothing');
is(psql(q{SELECT count(*) FROM pg_timezone_names WHERE name IN ('localtime', 'Factory', 'posixrules', 'posix/Europe/Berlin', 'US/Pacific', 'Etc/GMT+5')}),
   '6', 'PostgreSQL itself knows the refused names (so the refusal is ours)');
is(psql("SELECT name FROM companies WHERE id = 'acme'"), 'Acme, Inc.', 'duplicate left the original intact');

lr_ok('company', 'create', %base);
is(psql("SELECT timezone FROM companies WHERE id = 'beta'"), 'Europe/Berlin', 'second company stored');

# UTC, Etc/UTC and three-part region zones are fine; a hyphen inside a label too.
for (['utc1', 'UTC'], ['utc2', 'Etc/UTC'], ['ba', 'America/Argentina/Buenos_Aires']) {
    lr_ok('company', 'create', '--id', $_->[0], '--name', $_->[0], '--timezone', $_->[1],
          '--owner-email', "ops\@$_->[0]-x.example");
    is(psql("SELECT timezone FROM companies WHERE id = '$_->[0]'"), $_->[1], "$_->[1] accepted");
}

done_testing();
