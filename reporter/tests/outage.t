#!/usr/bin/perl
# Two reporters in one consumer group share the work, each click stored once; PostgreSQL
# restarted in the middle of a drain: the daemon holds, acknowledges nothing it has not
# stored, resumes by itself, and every click ends up stored exactly once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IPC::Run ();
use POSIX ();
use Time::HiRes qw(sleep time);
use LRTest;

setup_isolated('outage');
my $stream = $ENV{LINKREPORT_STREAM};

sub resp { my @a = @_; my $s = '*' . @a . "\r\n"; $s .= '$' . length($_) . "\r\n$_\r\n" for @a; $s }
sub load {
    my ($n) = @_;
    my $proto = '';
    for (1 .. $n) {
        my %f = click_fields();
        $proto .= resp('XADD', $stream, '*', map { ($_, $f{$_}) } sort keys %f);
    }
    my ($out, $err) = ('', '');
    IPC::Run::run(['redis-cli', LRTest::redis_args(), '--pipe'], \$proto, \$out, \$err)
        or die "redis-cli --pipe failed: $err";
}
sub rows { psql('SELECT count(*) FROM clicks') }
sub wait_rows {
    my ($want, $secs) = @_;
    my $deadline = time + $secs;
    my $n = 0;
    while (time < $deadline) {
        my $now = eval { rows() };     # refused while the server is down or starting
        $n = $now if defined $now;
        last if $n >= $want;
        sleep 0.2;
    }
    return $n;
}
sub daemon {
    my ($name) = @_;
    my ($in, $out, $err) = ('', '', '');
    my $h = IPC::Run::start([LRTest::binary(), 'drain', '--block-ms', '200', '--count', '200',
                             '--consumer', $name, '--keep'], \$in, \$out, \$err);
    return { h => $h, out => \$out, err => \$err };
}
sub stop {
    my ($d) = @_;
    $d->{h}->signal('TERM');
    $d->{h}->finish;
    return (${ $d->{out} }, ${ $d->{err} }, $d->{h}->full_result(0) >> 8);
}

# --- two reporters, one group
load(20_000);
my @d = (daemon('reporter-a'), daemon('reporter-b'));
is(wait_rows(20_000, 60), 20_000, 'two reporters stored the 20,000 clicks');
my @stored;
for my $d (@d) {
    my ($out, $err, $rc) = stop($d);
    is($rc, 0, 'a reporter exits 0 on SIGTERM') or diag($err);
    push @stored, $out =~ /^drained: (\d+) stored/m ? $1 : 0;
}
cmp_ok($stored[0], '>', 0, "reporter-a stored some ($stored[0])");
cmp_ok($stored[1], '>', 0, "reporter-b stored some ($stored[1])");
is($stored[0] + $stored[1], 20_000, 'together exactly all, none twice');
is(psql('SELECT count(DISTINCT click_id) FROM clicks'), 20_000, 'distinct click ids');

# --- PostgreSQL restarted mid-drain
# LR_PG_DIR is the cluster's real folder (as root, outside the checkout, which the
# postgres user may not be able to reach)
my $pgdir = $ENV{LR_PG_DIR} // "$ENV{LR_RUN_DIR}/pg";
my $pgdata = "$pgdir/data";
SKIP: {
    skip "no PostgreSQL data folder of this test run at $pgdata", 5 unless -d $pgdata;
    my ($pgbin) = sort { $b cmp $a } glob('/usr/lib/postgresql/*/bin');
    my @as_pg = $> == 0 ? ('env', '-C', '/', 'runuser', '-u', 'postgres', '--') : ();

    load(30_000);
    # the options the server runs with, to start it again the same way
    system('cp', "$pgdata/postmaster.opts", "$pgdata/postmaster.opts.saved") == 0
        or die 'cannot read postmaster.opts';
    my $d = daemon('reporter-c');
    for (1 .. 100) { last if rows() > 20_000; sleep 0.05 }
    my $before = rows();
    cmp_ok($before, '<', 50_000, "restart while the drain is working ($before rows)");
    # stopped, then started again with its own options (port, sockets) as recorded in
    # postmaster.opts; the pause between is a real outage for the running drain
    system(@as_pg, "$pgbin/pg_ctl", '-s', '-D', $pgdata, '-m', 'fast', '-w', 'stop') == 0
        or die 'pg_ctl stop failed';
    open my $opts_fh, '<', "$pgdata/postmaster.opts.saved" or die "postmaster.opts: $!";
    chomp(my $opts = <$opts_fh>);
    sleep 2;
    my @cmd = map { s/^"(.*)"$/$1/r } ($opts =~ /("[^"]*"|\S+)/g);
    my $postgres = shift @cmd;
    system(@as_pg, "$pgbin/pg_ctl", '-s', '-D', $pgdata, '-w', '-l', "$pgdir/server.log",
           '-o', join(' ', grep { $_ ne '-D' && $_ ne $pgdata } @cmd), 'start') == 0
        or die 'pg_ctl start failed';
    is(wait_rows(50_000, 90), 50_000, 'the drain resumed by itself and stored every click');
    my ($out, $err, $rc) = stop($d);
    is($rc, 0, 'and exits 0 on SIGTERM') or diag($err);
    like($err, qr/PostgreSQL/, 'the outage was reported');
    is(psql('SELECT count(DISTINCT click_id) FROM clicks'), 50_000, 'each click once');
    my $pending = redis('XPENDING', $stream, 'linkreport');
    like($pending, qr/^0\b/, 'nothing left pending');
}

done_testing();
