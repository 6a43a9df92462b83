#!/usr/bin/perl
# The stream stays bounded: after each batch the drain trims what every consumer group
# on the stream has read and acknowledged, and never an entry some group has not read.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LRTest;
use Test::More;

setup_isolated('trim');
my $stream = $ENV{LINKREPORT_STREAM};

sub add_clicks {
    my ($n) = @_;
    xadd_click(click_fields(click_id => new_click_id())) for 1 .. $n;
}

add_clicks(300);
my ($rc, $out, $err) = lr('drain', '--once', '--count', '100');
is($rc, 0, 'drain exits 0') or diag($err);
like($out, qr/drained: 300 stored/, 'all 300 stored');
cmp_ok(redis('XLEN', $stream), '<', 300, 'stored and acknowledged entries are trimmed');

# a second group that has read nothing: nothing may go
redis('XGROUP', 'CREATE', $stream, 'other', '$');
add_clicks(150);
($rc, $out, $err) = lr('drain', '--once', '--count', '100');
is($rc, 0, 'drain exits 0 with a second group') or diag($err);
cmp_ok(redis('XLEN', $stream), '>=', 150, "entries the other group has not read are kept");

# --keep leaves the stream alone
redis('XGROUP', 'DESTROY', $stream, 'other');
add_clicks(50);
my $before = redis('XLEN', $stream);
($rc, $out, $err) = lr('drain', '--once', '--keep');
is($rc, 0, 'drain --keep exits 0') or diag($err);
is(redis('XLEN', $stream), $before, '--keep trims nothing');

done_testing();
