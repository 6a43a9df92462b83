# Helpers for the operations tests: a reporter daemon in the background, raw HTTP to its
# metrics endpoint, and loading many stream entries at once.
package LROps;
use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET ();
use IPC::Run ();
use Time::HiRes qw(sleep time);
use LRTest;

our @EXPORT = qw(daemon stop_daemon wait_until http scrape metrics_port load_clicks);

# A port of this test's range (19100-19199), different per test file and run.
sub metrics_port { my ($slot) = @_; return 19100 + ($slot * 10 + $$ % 10) % 100 }

# linkreport ARGS in the background; stderr and stdout collected.
sub daemon {
    my @args = @_;
    my ($in, $out, $err) = ('', '', '');
    my $h = IPC::Run::start([LRTest::binary(), @args], \$in, \$out, \$err);
    return { h => $h, out => \$out, err => \$err };
}

# SIGTERM; returns (exit status, stdout, stderr).
sub stop_daemon {
    my ($d) = @_;
    $d->{h}->signal('TERM');
    $d->{h}->finish;
    my $err = ${ $d->{err} };
    if ($err =~ /(Sanitizer|runtime error:)/) {
        Test::More::fail('no sanitizer report from the daemon');
        Test::More::diag($err);
    }
    return ($d->{h}->full_result(0) >> 8, ${ $d->{out} }, $err);
}

# Polls $cond (pumping the daemons' output) until true or $secs pass; returns its value.
sub wait_until {
    my ($secs, $cond, @daemons) = @_;
    my $deadline = time + $secs;
    while (1) {
        $_->{h}->pump_nb for @daemons;
        my $v = eval { $cond->() };
        return $v if $v || time > $deadline;
        sleep 0.1;
    }
}

# Sends $raw to 127.0.0.1:$port and reads the answer until the server closes (or
# $timeout seconds); returns (answer, seconds it took).
sub http {
    my ($port, $raw, $timeout) = @_;
    $timeout //= 10;
    my $t0 = time;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                  Timeout => 2) or return (undef, 0);
    local $SIG{PIPE} = 'IGNORE';
    print {$s} $raw if length $raw;
    my $answer = '';
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    while (time - $t0 < $timeout) {
        my $r = select(my $rout = $rin, undef, undef, 0.2);
        next unless $r > 0;
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $answer .= $buf;
    }
    close $s;
    return ($answer, time - $t0);
}

# GET /metrics as { 'name{labels}' => value }.
sub scrape {
    my ($port) = @_;
    my ($answer) = http($port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    return undef unless defined $answer && $answer =~ m{^HTTP/1\.1 200 };
    my (undef, $body) = split /\r\n\r\n/, $answer, 2;
    my %m;
    for (split /\n/, $body) {
        next if /^#/;
        /^(\S+) (\S+)$/ or die "bad metrics line: $_";
        $m{$1} = $2;
    }
    return \%m;
}

sub resp { my @a = @_; my $s = '*' . @a . "\r\n"; $s .= '$' . length($_) . "\r\n$_\r\n" for @a; $s }

# XADDs $n clicks (and any extra entries given as field lists) with one redis-cli --pipe.
sub load_clicks {
    my ($stream, $n, @extra) = @_;
    my $proto = '';
    for (1 .. $n) {
        my %f = click_fields();
        $proto .= resp('XADD', $stream, '*', map { ($_, $f{$_}) } sort keys %f);
    }
    $proto .= resp('XADD', $stream, '*', @$_) for @extra;
    my ($out, $err) = ('', '');
    IPC::Run::run(['redis-cli', LRTest::redis_args(), '--pipe'], \$proto, \$out, \$err)
        or die "redis-cli --pipe failed: $err";
}

1;
