#!/usr/bin/perl
# linkreport status --drain: the backlog per group and consumer, dead letters, last store.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use LRTest;
use Test::More;

setup_isolated('status_drain');
my $stream = $ENV{LINKREPORT_STREAM};

my ($rc, $out, $err) = lr('status', '--drain');
is($rc, 0, 'an empty stream: exit 0') or diag($err);
is($out, "stream\t$stream\tlength\t0\ndead_letters\t0\nlast_stored\t\n", 'no group, nothing stored');

xadd_click(click_fields()) for 1 .. 5;
xadd_click(click_fields(company_id => undef));
is(lr_ok('drain', '--once', '--consumer', 'w1', '--keep'),
   "drained: 5 stored, 0 duplicates, 1 dead letters\n", 'drained');
xadd_click(click_fields()) for 1 .. 3;
redis('XREADGROUP', 'GROUP', 'linkreport', 'w2', 'COUNT', '2', 'STREAMS', $stream, '>');

($rc, $out, $err) = lr('status', '--drain');
is($rc, 0, 'exit 0') or diag($err);
like($out, qr/^stream\t\Q$stream\E\tlength\t9$/m, 'length');
like($out, qr/^group\tlinkreport\tconsumers\t2\tpending\t2\tlag\t1\tlast-delivered\t\d+-\d+$/m,
     'group: two consumers, two pending, one unread');
like($out, qr/^consumer\tlinkreport\tw1\tpending\t0\tidle-ms\t\d+$/m, 'consumer w1 has nothing pending');
like($out, qr/^consumer\tlinkreport\tw2\tpending\t2\tidle-ms\t\d+$/m, 'consumer w2 holds two');
like($out, qr/^dead_letters\t1$/m, 'one dead letter');
like($out, qr/^last_stored\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m, 'time of the last store');

($rc, $out, $err) = lr('status', '--drain', '--redis', '127.0.0.1:1');
is($rc, 69, 'Redis unreachable: 69');
done_testing();
