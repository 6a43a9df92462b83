# SMTP sink for the reporter tests: a real aiosmtpd server saving each message as received,
# and the messages parsed back (Python's email package) as Perl data.
package LRMail;
use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IPC::Run ();
use JSON::PP ();
use Time::HiRes qw(sleep);

our @EXPORT = qw(start_smtp mails clear_mails mail_env free_port);

my $lib = File::Spec->rel2abs(dirname(__FILE__));
my @servers;

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp')
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# Starts a sink; returns (port, folder). Options (each turns on lr_smtp_sink.py's own
# server, see there): starttls => [cert, key], smtps => [cert, key], auth => 'user:password',
# auth_only => 'PLAIN' or 'LOGIN'.
sub start_smtp {
    my (%opt) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $port = free_port();
    my @cmd = ('/usr/bin/python3', '-m', 'aiosmtpd', '-n', '-l', "127.0.0.1:$port", '-c',
               'lr_smtp_sink.Save', $dir);
    if (%opt) {
        @cmd = ('/usr/bin/python3', "$lib/lr_smtp_sink.py", '--listen', "127.0.0.1:$port",
                ($opt{starttls} ? ('--starttls', @{$opt{starttls}}) : ()),
                ($opt{smtps} ? ('--smtps', @{$opt{smtps}}) : ()),
                ($opt{auth} ? ('--auth', $opt{auth}) : ()),
                ($opt{auth_only} ? ('--auth-only', $opt{auth_only}) : ()), $dir);
    }
    local $ENV{PYTHONPATH} = $lib;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', "$dir.log";
        open STDERR, '>&', \*STDOUT;
        exec @cmd;
        exit 127;
    }
    push @servers, $pid;
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        if ($s) { close $s; return ($port, $dir) }
        sleep 0.1;
    }
    die "aiosmtpd did not start on $port";
}

# Environment for the reporter to mail through the sink.
sub mail_env {
    my ($port, $reports) = @_;
    return (
        LINKREPORT_SMTP_URL => "smtp://127.0.0.1:$port",
        LINKREPORT_SMTP_TLS => 'none',
        LINKREPORT_MAIL_FROM => 'reports@linkreport.example',
        LINKREPORT_REPORTS_DIR => $reports,
        LINKREPORT_DOWNLOAD_BASE_URL => 'https://dl.example/reports',
        LINKREPORT_DOWNLOAD_SECRET => 'test-secret-0123456789',
        LINKREPORT_RETRY_BASE_SECONDS => 300,
    );
}

sub mails {
    my ($dir) = @_;
    my ($out, $err) = ('', '');
    IPC::Run::run(['/usr/bin/python3', "$lib/parse_mail.py", $dir], \(my $in = ''), \$out, \$err)
        or die "parse_mail.py failed: $err";
    return JSON::PP->new->decode($out);
}

sub clear_mails {
    my ($dir) = @_;
    unlink glob("$dir/*.eml"), glob("$dir/*.json");
}

END {
    my $status = $?;
    kill 'TERM', $_ for @servers;
    waitpid($_, 0) for @servers;
    $? = $status;
}

1;
