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
is(psql("SELECT name FROM companies WHERE id = 'acme'"), 'Acme, Inc.', 'duplicate left the original intact');

lr_ok('company', 'create', %base);
is(psql("SELECT timezone FROM companies WHERE id = 'beta'"), 'Europe/Berlin', 'second company stored');

done_testing();
