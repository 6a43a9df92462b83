#!/usr/bin/perl
# Command line: help, usage errors (64), unreachable services (69) without leaking secrets.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use LRTest;

my ($rc, $out, $err) = lr('--help');
is($rc, 0, '--help exits 0');
like($out, qr/^usage: linkreport/, '--help prints usage to stdout');
like($out, qr/\b$_\b/, "--help lists $_") for 'migrate', 'company create', 'link create',
    'link publish', 'drain', 'report', 'LINKREPORT_DB', 'LINKREPORT_BASE_URL';
is($err, '', '--help prints nothing to stderr');

for my $cmd (['migrate'], ['company', 'create'], ['link', 'create'], ['link', 'publish'],
             ['drain'], ['report']) {
    ($rc, $out, $err) = lr(@$cmd, '--help');
    is($rc, 0, "@$cmd --help exits 0");
    like($out, qr/^usage: linkreport \Q@$cmd\E/, "@$cmd --help prints its usage");
}
($rc, $out) = lr('link', '--help');
is($rc, 0, 'link --help exits 0');
like($out, qr/create publish/, 'link --help lists its subcommands');

my @usage_errors = (
    [[], qr/^linkreport: missing command/],
    [['bogus'], qr/^linkreport: unknown command 'bogus'/],
    [['link'], qr/^linkreport: link: missing subcommand/],
    [['link', 'delete'], qr/^linkreport: link: unknown subcommand 'delete'/],
    [['link', 'create', '--bogus'], qr/^linkreport: link create: unknown option '--bogus'/],
    [['link', 'create', '--company'], qr/^linkreport: link create: option '--company' needs a value/],
    [['link', 'create', '--long-url', 'https://x.y'], qr/^linkreport: link create: --company is required/],
    [['link', 'create', '--company', 'a', '--long-url', 'https://x.y', 'extra'],
     qr/^linkreport: link create: unexpected argument 'extra'/],
    [['company', 'create', '--id', 'a'], qr/^linkreport: company create: --name is required/],
    [['report', '--company', 'a', '--from', '2024-01-01'], qr/^linkreport: report: --to is required/],
    [['drain', '--count', 'x'], qr/^linkreport: drain: --count must be an integer/],
    [['drain', '--count', '0'], qr/^linkreport: drain: --count must be an integer from 1 to 100000/],
    [['drain', '--count', '100001'], qr/^linkreport: drain: --count must be an integer from 1 to 100000/],
    [['run', '--interval', '0'], qr/^linkreport: run: --interval must be an integer from 1 to 86400/],
    [['drain', '--flush-ms', 'soon'], qr/^linkreport: drain: --flush-ms must be an integer/],
    [['drain', '--flush-ms', '60001'], qr/^linkreport: drain: --flush-ms must be an integer from 0 to 60000/],
    [['migrate', '--db'], qr/^linkreport: option --db needs a value/],
    [['migrate', '--redis='], qr/^linkreport: option --redis must not be empty/],
    # An option given twice used to take the last value silently.
    [['link', 'create', '--company', 'a', '--company', 'b', '--long-url', 'https://x.y'],
     qr/^linkreport: link create: option --company given twice$/],
    [['link', 'create', '--company=a', '--long-url', 'https://x.y', '--company=a'],
     qr/^linkreport: link create: option --company given twice$/],
    [['report', '--company', 'a', '--from', '2024-01-01', '--from', '2024-01-02', '--to', '2024-01-03'],
     qr/^linkreport: report: option --from given twice$/],
    [['company', 'create', '--id', 'a', '--id', 'b'], qr/^linkreport: company create: option --id given twice$/],
    [['settings', 'set', '--company', 'a', '--recipients', 'a@b.example', '--recipients', 'c@d.example'],
     qr/^linkreport: settings set: option --recipients given twice$/],
    [['download-url', '--file', 'a.csv', '--recipient', 'a@b.example', '--recipient', 'c@d.example'],
     qr/^linkreport: download-url: option --recipient given twice$/],
    [['status', '--drain', '--drain'], qr/^linkreport: status: option --drain given twice$/],
    [['drain', '--count', '7', '--count', '8'], qr/^linkreport: drain: option --count given twice$/],
    [['run', '--interval', '7', '--once', '--interval=8'], qr/^linkreport: run: option --interval given twice$/],
    [['--db', 'postgresql:///a', 'migrate', '--db', 'postgresql:///b'], qr/^linkreport: option --db given twice$/],
    [['--redis=127.0.0.1:1', '--redis=127.0.0.1:2', 'migrate'], qr/^linkreport: option --redis given twice$/],
    [['--config', '/nonexistent/a.conf', '--config=/nonexistent/b.conf', 'migrate'],
     qr/^linkreport: option --config given twice$/],
);
for my $case (@usage_errors) {
    my ($args, $re) = @$case;
    ($rc, $out, $err) = lr(@$args);
    is($rc, 64, "exit 64 for: @$args");
    like($err, $re, "message for: @$args");
    is(scalar(() = $err =~ /\n/g), 1, "one line on stderr for: @$args");
}

# drain/run/schedule options from the environment (or the file) are defaults: the
# command line gives each once more and wins, it is not "given twice".
{
    local $ENV{LINKREPORT_COUNT} = '5';
    local $ENV{LINKREPORT_INTERVAL} = '9';
    for my $cmd (['drain', '--count', '7'], ['run', '--count=7', '--interval', '3'], ['schedule', '--interval', '3']) {
        ($rc, $out, $err) = lr(@$cmd, '--help');
        is($rc, 0, "@$cmd with the setting in the environment too: accepted") or diag($err);
    }
    ($rc, $out, $err) = lr('drain', '--count', '7', '--count', '8', '--help');
    is($rc, 64, 'but twice on the command line is refused');
}

# PostgreSQL unreachable: 69, names host/port/db, never the password.
($rc, $out, $err) = lr('--db', 'postgresql://alice:s3cr3tpw@127.0.0.1:1/nodb', 'migrate');
is($rc, 69, 'unreachable PostgreSQL exits 69');
like($err, qr/^linkreport: migrate: cannot connect to PostgreSQL \(host 127\.0\.0\.1, port 1, database nodb\)/,
     'message names host, port and database');
unlike($err, qr/s3cr3tpw/, 'password not printed');

($rc, $out, $err) = lr('migrate', '--db', 'host=127.0.0.1 password=s3cr3tpw bogus');
is($rc, 64, 'unparsable conninfo exits 64 (global option after the subcommand)');
unlike($err, qr/s3cr3tpw/, 'password of a bad conninfo not printed');

# Redis unreachable: drain exits 69 (link create stores the link and exits 69: link.t).
($rc, $out, $err) = lr('drain', '--once', '--redis', '127.0.0.1:1');
is($rc, 69, 'unreachable Redis: drain --once exits 69');
($rc, $out, $err) = lr('drain', '--once', '--redis', 'nonsense');
is($rc, 64, 'malformed Redis address exits 64');
like($err, qr/must be host:port, \[ipv6\]:port or unix:\/path/, 'malformed Redis address message');
($rc, $out, $err) = lr('drain', '--once', '--redis', 'redis://:S3cretPW@127.0.0.1:6379');
is($rc, 64, 'a redis:// URL is refused');
unlike($err, qr/S3cretPW/, 'and the password in it is not echoed');

# Date checks happen before any connection.
for my $case (['2024-02-30', '2024-03-01', qr/--from must be a date/],
              ['2024-03-01', '24-03-02', qr/--to must be a date/],
              ['2024-03-02', '2024-03-01', qr/--from 2024-03-02 is after --to 2024-03-01/]) {
    ($rc, $out, $err) = lr('report', '--company', 'acme', '--from', $case->[0], '--to', $case->[1]);
    is($rc, 65, "report $case->[0]..$case->[1] exits 65");
    like($err, qr/^linkreport: report: $case->[2]/, "report $case->[0]..$case->[1] message");
}

done_testing();
