#!/usr/bin/perl
# The daemon's structured log lines: logfmt, JSON and text; a hostile value (quote, =,
# newline, backslash, invalid UTF-8) never forges a line or a field and reads back
# exactly; lr_err messages become error events; secrets never appear.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Encode ();
use JSON::PP ();
use Test::More;
use LRTest;
use LROps;

setup_isolated('log');
my $hostile = qq{$ENV{LINKREPORT_STREAM}:a" b=c\nts=x level=error event=forged \\ end \xc3\xa9};
sub rows { psql('SELECT count(*) FROM clicks') }

# A strict logfmt reader: key=value pairs separated by one space, values bare or quoted
# with \" \\ \n \r \t \uXXXX escapes. Returns [k, v, ...] or undef.
sub parse_logfmt {
    my ($line) = @_;
    my @pairs;
    while (1) {
        $line =~ /\G([a-z_]+)=/gc or return undef;
        my $key = $1;
        my $v;
        if ($line =~ /\G"((?:[^"\\]|\\.)*)"/gc) {
            $v = $1;
            $v =~ s/\\(u([0-9a-f]{4})|.)/
                defined $2 ? chr(hex $2) : {n => "\n", r => "\r", t => "\t"}->{$1} \/\/ $1/ge;
        } elsif ($line =~ /\G([^\s"=\\]+)/gc) {
            $v = $1;
        } else {
            return undef;
        }
        push @pairs, $key, $v;
        return \@pairs if (pos($line) // 0) == length $line;
        $line =~ /\G /gc or return undef;
    }
}

sub drain_with_format {
    my ($format) = @_;
    local $ENV{LINKREPORT_STREAM} = $hostile;
    my $before = rows();
    redis('XADD', $hostile, '*', click_fields());
    redis('XADD', $hostile, '*', 'foo', 'bar');
    my $d = daemon('drain', '--log-format', $format, '--block-ms', '200', '--consumer', "log-$format", '--keep');
    wait_until(20, sub { rows() >= $before + 1 }, $d);
    wait_until(5, sub { ${ $d->{err} } =~ /dead_letter/ }, $d);
    my ($rc, $out, $err) = stop_daemon($d);
    is($rc, 0, "$format: exit 0") or diag($err);
    redis('DEL', $hostile);
    return $err;
}

# --- logfmt (the default)
my $err = drain_with_format('logfmt');
my @lines = split /\n/, $err;
my @events;
for my $line (@lines) {
    my $p = parse_logfmt($line);
    ok($p, 'logfmt line parses') or diag($line);
    next unless $p;
    my %h = @$p;
    is(scalar(keys %h) * 2, scalar(@$p), 'no key twice') or diag($line);
    is_deeply([@$p[0, 2, 4]], [qw(ts level event)], 'ts, level, event first');
    like($h{ts}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'ts is UTC with ms');
    push @events, \%h;
}
is_deeply([map { $_->{event} } @events], [qw(start dead_letter batch_stored stop)],
          'events: start, the click, the dead letter, stop: none forged')
    or diag($err);
is($events[0]{stream}, $hostile, 'the hostile stream name reads back exactly');
is($events[2]{count}, 1, 'batch_stored count=1');
is($events[2]{dead_letters}, 1, 'batch_stored dead_letters=1');
like($events[2]{ms}, qr/^\d+$/, 'and its duration');
is($events[1]{reason}, 'missing click_id', 'dead letter reason');
is($events[1]{level}, 'warn', 'dead letter is a warning');

# --- JSON
$err = drain_with_format('json');
my $json = JSON::PP->new->utf8;
@events = ();
for my $line (split /\n/, $err) {
    my $obj = eval { $json->decode($line) };
    ok($obj, 'JSON line decodes') or diag($line);
    push @events, $obj if $obj;
}
is_deeply([map { $_->{event} } @events], [qw(start dead_letter batch_stored stop)],
          'JSON events, none forged');
is($events[0]{stream}, Encode::decode_utf8($hostile), 'the hostile stream name reads back exactly');
like($err, qr/"count":1[,}]/, 'numbers are JSON numbers');

# --- text
$err = drain_with_format('text');
unlike($err, qr/^(?!linkreport: )/m, 'text: every line starts with linkreport:');
like($err, qr/^linkreport: batch_stored .*count=1/m, 'text: batch line');

# --- lr_err messages become error events; no secret; outage once, retries with backoff
my $d = daemon('--db', 'postgresql://postgres:s3cr3tPW@127.0.0.1:1/bad%0Aname%FF', 'drain',
               '--consumer', 'log-err');
wait_until(10, sub { ${ $d->{err} } =~ /backoff_ms=1000/ }, $d);
my ($rc, $out);
($rc, $out, $err) = stop_daemon($d);
is($rc, 0, 'exit 0');
unlike($err, qr/s3cr3tPW/, 'the password is never logged');
@events = map { my $p = parse_logfmt($_); $p ? {@$p} : { bad => $_ } } split /\n/, $err;
ok(!(grep { $_->{bad} } @events), 'every line is logfmt') or diag($err);
my @errors = grep { $_->{event} eq 'error' } @events;
cmp_ok(scalar @errors, '>=', 2, 'connection failures are error events');
like($errors[0]{msg}, qr/^drain: cannot connect to PostgreSQL \(host 127\.0\.0\.1, port 1, database bad\nname\xff\): /,
     'the message, newline and stray byte included, reads back whole');
is(scalar(grep { $_->{event} eq 'outage' } @events), 1, 'one outage event');
is((grep { $_->{event} eq 'outage' } @events)[0]{service}, 'postgres', 'naming PostgreSQL');
my @backoff = map { $_->{backoff_ms} } grep { $_->{event} eq 'retry' } @events;
is_deeply([@backoff[0, 1]], [500, 1000], 'retries back off');

# --- a value too long for one line: cut, marked, still one parsable line of at most 4 KiB
{
    my $long = "$ENV{LINKREPORT_STREAM}:" . ("\xc3\xa9\n" x 3000);
    local $ENV{LINKREPORT_STREAM} = $long;
    my $dl = daemon('drain', '--block-ms', '100', '--consumer', 'log-long', '--keep');
    wait_until(10, sub { ${ $dl->{err} } =~ /event=start/ }, $dl);
    ($rc, $out, $err) = stop_daemon($dl);
    my ($start) = grep { /event=start/ } split /\n/, $err;
    cmp_ok(length($start) + 1, '<=', 4096, 'the start line fits 4 KiB');
    my $p = parse_logfmt($start);
    ok($p, 'and parses') or diag($start);
    my %h = @{ $p // [] };
    is($h{truncated}, 'true', 'marked truncated=true');
    ok(length($h{stream}) > 100 && index($long, $h{stream}) == 0, 'the stream value is the head of the real one');
    ok(Encode::is_utf8(Encode::decode_utf8($h{stream}, Encode::FB_CROAK)), 'cut on a UTF-8 boundary');
    redis('DEL', $long);
}

($rc, $out, $err) = lr('drain', '--log-format', 'xml');
is($rc, 64, 'unknown --log-format: 64');
like($err, qr/--log-format\/LINKREPORT_LOG_FORMAT must be logfmt, json or text/, 'says why');
done_testing();
