#!/usr/bin/perl
# Configuration file and environment: precedence option > environment > file > default,
# precise FILE:LINE errors (64), secrets never printed and refused in a file others can
# read, drain options from the file, and docs/reporter.md listing every key.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use Test::More;
use LRTest;

setup_isolated('config');
my $dir = tempdir(CLEANUP => 1);
my $n = 0;
sub conf {
    my ($text, $mode) = @_;
    my $path = "$dir/c" . ++$n . '.conf';
    open my $fh, '>', $path or die $!;
    print $fh $text;
    close $fh;
    chmod($mode // 0600, $path);
    return $path;
}
sub effective {    # linkreport config as { key => [value, source] }
    my ($rc, $out, $err) = lr(@_, 'config');
    is($rc, 0, "config @_ exits 0") or diag($err);
    return { map { my @f = split /\t/, $_, -1; ($f[0] => [$f[1], $f[2]]) } split /\n/, $out };
}

# --- precedence
my $file = conf(<<"CONF");
# reporter settings
stream = from-file
  key-prefix=file:prefix:
count = 7
base-url = http://file.example
smtp-password = pa#ss word
CONF
local $ENV{LINKREPORT_KEY_PREFIX} = 'env:prefix:';
my $test_stream = $ENV{LINKREPORT_STREAM};
delete local $ENV{LINKREPORT_STREAM};    # setup_isolated sets it; the file's must show
my $e = effective('--config', $file, '--base-url', 'http://option.example');
is_deeply($e->{stream}, ['from-file', "file $file:2"], 'file beats default');
is_deeply($e->{'key-prefix'}, ['env:prefix:', 'env LINKREPORT_KEY_PREFIX'], 'environment beats file');
is_deeply($e->{'base-url'}, ['http://option.example', 'option --base-url'], 'option beats file');
is_deeply($e->{count}, ['7', "file $file:4"], 'a drain option from the file');
is_deeply($e->{'block-ms'}, ['5000', 'default'], 'default');
is_deeply($e->{'smtp-password'}, ['(hidden)', "file $file:6"], 'secret hidden, source shown');
is_deeply($e->{'download-secret'}, ['', 'unset'], 'unset without default');
is_deeply($e->{config}, [$file, 'option --config'], 'the file itself');
{
    local $ENV{LINKREPORT_CONFIG} = $file;
    local $ENV{LINKREPORT_STREAM} = '';
    $e = effective();
    is_deeply($e->{stream}, ['from-file', "file $file:2"], 'LINKREPORT_CONFIG names the file; empty env = unset');
    is_deeply($e->{config}, [$file, 'env LINKREPORT_CONFIG'], 'source of the file name');
}
my ($rc, $out, $err) = lr('--config', $file, 'config');
unlike($out . $err, qr/pa#ss/, 'the secret is printed nowhere');

# the file's stream is the one drain uses (its own LINKREPORT_STREAM is unset here)
{
    my $stream = "$test_stream:fromfile";
    my $f = conf("stream = $stream\ncount = 2\ngroup = filegroup\n");
    redis('XADD', $stream, '*', click_fields()) for 1 .. 5;
    ($rc, $out, $err) = lr('--config', $f, 'drain', '--once', '--keep');
    is($rc, 0, 'drain with the file') or diag($err);
    is($out, "drained: 5 stored, 0 duplicates, 0 dead letters\n", 'drained the file\'s stream');
    my $groups = redis('XINFO', 'GROUPS', $stream);
    like($groups, qr/^filegroup$/m, 'with the file\'s group');
    # the command line still wins over the file: --group given, an empty read
    ($rc, $out, $err) = lr('--config', $f, 'drain', '--once', '--group', 'cli-group');
    is($rc, 0, 'option after the file') or diag($err);
    like(redis('XINFO', 'GROUPS', $stream), qr/^cli-group$/m, 'the option\'s group was used');
    redis('DEL', $stream);
}
{
    local $ENV{LINKREPORT_COUNT} = 'lots';
    ($rc, $out, $err) = lr('drain', '--once');
    is($rc, 64, 'bad LINKREPORT_COUNT: 64');
    is($err, "linkreport: drain: LINKREPORT_COUNT must be an integer from 1 to 100000\n", 'names the variable');
}
# report settings come from the file too (send.c reads them through the table)
{
    my $f = conf("download-ttl = 5\n");
    ($rc, $out, $err) = lr('--config', $f, 'schedule', '--once');
    is($rc, 64, 'a bad report setting in the file: 64');
    is($err, "linkreport: $f:1: download-ttl must be an integer from 60 to 31622400\n", 'FILE:LINE');
    $f = conf("download-base-url = https://dl.example/reports\ndownload-secret = short\n");
    ($rc, $out, $err) = lr('--config', $f, 'schedule', '--once');
    is($rc, 64, 'the file\'s secret reaches the reports settings');
    like($err, qr/LINKREPORT_DOWNLOAD_SECRET must have at least 16 characters/, 'and is checked there');
    unlike($err, qr/short/, 'without printing it');
}

# --- errors: FILE:LINE: why, exit 64, one line, whatever the command
my @bad = (
    ["stream = a\nbogus = 1\n", 2, qr/unknown key 'bogus'/],
    ["\n\njust a line\n", 3, qr/missing '=' \(lines are key = value\)/],
    ["= x\n", 1, qr/missing key before '='/],
    ["count = many\n", 1, qr/count must be an integer from 1 to 100000/],
    ["count = 0\n", 1, qr/count must be an integer from 1 to 100000/],
    ["stream =\n", 1, qr/stream must not be empty/],
    ["log-format = xml\n", 1, qr/log-format must be one of logfmt\|json\|text/],
    ["metrics-listen = 0.0.0.0:99999\n", 1, qr/metrics-listen must be PORT/],
    ["stream = a\nstream = b\n", 2, qr/duplicate key 'stream' \(first set on line 1\)/],
    ["now = 2024-01-01T00:00:00Z\n", 1, qr/'now' cannot be set in the file \(LINKREPORT_NOW only\)/],
    ["stream = a\x00b\n", 1, qr/NUL byte in line/],
    ["smtp-user = a\x01b\n", 1, qr/smtp-user must not contain control characters/],
    ["hunter2secret\n", 1, qr/missing '='/],
);
for my $case (@bad) {
    my ($text, $line, $re) = @$case;
    my $f = conf($text);
    ($rc, $out, $err) = lr('--config', $f, 'migrate');
    my $what = $text =~ s/\n/\\n/gr =~ s/[\x00-\x1f]/?/gr;
    is($rc, 64, "exit 64 for: $what");
    like($err, qr/^linkreport: \Q$f\E:$line: $re[^\n]*\n\z/, "FILE:LINE message for: $what");
}
unlike($err, qr/hunter2/, 'a line without = is not echoed');
($rc, $out, $err) = lr('--config', "$dir/missing.conf", 'migrate');
is($rc, 64, 'missing file: 64');
like($err, qr/^linkreport: \Q$dir\E\/missing\.conf: cannot read the configuration file: No such file/, 'says so');

# --help answers even with a broken configuration file.
{
    local $ENV{LINKREPORT_CONFIG} = "$dir/missing.conf";
    for my $args (['--help'], ['config', '--help'], ['drain', '--help']) {
        my ($hrc, $hout) = lr(@$args);
        is($hrc, 0, "@$args with a missing LINKREPORT_CONFIG file: 0");
        like($hout, qr/usage: linkreport/, '... and the usage');
    }
}

# `config` output cannot be forged by a value: control characters are written \xHH.
{
    local $ENV{LINKREPORT_STREAM} = "a\tb\nkey-prefix\tevil\\";
    my ($crc, $cout) = lr('config');
    is($crc, 0, 'config with control characters in a value: 0');
    like($cout, qr/^stream\ta\\x09b\\x0akey-prefix\\x09evil\\\\\tenv LINKREPORT_STREAM$/m, '... written escaped');
    unlike($cout, qr/^key-prefix\tevil/m, '... no forged line');
}

# A FIFO is refused before it is opened (opening it would wait for a writer forever); a
# file over 1 MiB is refused before it is read.
system('mkfifo', "$dir/fifo.conf") == 0 or die "mkfifo: $!";
($rc, $out, $err) = lr('--config', "$dir/fifo.conf", 'config');
is($rc, 64, 'a FIFO as configuration file: 64');
like($err, qr/fifo\.conf: cannot read the configuration file: not a regular file/, 'says so');
open(my $big, '>', "$dir/big.conf") or die $!;
print $big "# padding\n" x 110_000;
close $big;
chmod 0600, "$dir/big.conf";
($rc, $out, $err) = lr('--config', "$dir/big.conf", 'config');
is($rc, 64, 'a configuration file over 1 MiB: 64');
like($err, qr/big\.conf: cannot read the configuration file: larger than 1 MiB/, 'says so');
($rc, $out, $err) = lr('--config', $dir, 'migrate');
is($rc, 64, 'a folder: 64');

# --- secrets and permissions
for my $case (["smtp-password = s3cr3tPW\n", 'smtp-password'],
              ["download-secret = s3cr3tPWs3cr3tPW\n", 'download-secret'],
              ["db = postgresql://u:s3cr3tPW\@127.0.0.1:1/x\n", 'db'],
              ["db = host=127.0.0.1 password=s3cr3tPW\n", 'db']) {
    my ($text, $key) = @$case;
    my $f = conf($text, 0644);
    ($rc, $out, $err) = lr('--config', $f, 'config');
    is($rc, 64, "$key in a world-readable file: refused");
    like($err, qr/^linkreport: \Q$f\E:1: $key is a secret but others may read the file \(mode 0644\)/, 'says why');
    unlike($err . $out, qr/s3cr3tPW/, 'secret not printed');
    chmod 0640, $f;
    ($rc, $out, $err) = lr('--config', $f, 'config');
    is($rc, 0, "$key in a 0640 file: accepted") or diag($err);
    unlike($err . $out, qr/s3cr3tPW/, 'secret not printed by config');
}
delete local $ENV{LINKREPORT_DB};
$e = effective('--config', conf("db = postgresql://u:s3cr3tPW\@127.0.0.1:1/x\n"));
like($e->{db}[0], qr/password='\(hidden\)'/, 'db shown with the password hidden');
like($e->{db}[0], qr/host='127\.0\.0\.1'/, 'the rest of it shown');
my $plain = conf("stream = x\n", 0644);
is((lr('--config', $plain, 'config'))[0], 0, 'a world-readable file without secrets is fine');
my $writable = conf("stream = x\n", 0646);
($rc, $out, $err) = lr('--config', $writable, 'config');
is($rc, 64, 'a world-writable file: refused');
like($err, qr/others may write to the configuration file \(mode 0646\)/, 'says why');

# --- one table: --help, config --help and the docs list the same keys
($rc, $out, $err) = lr('config', '--help');
is($rc, 0, 'config --help');
my @keys = $out =~ /^  ([a-z-]+) .*\[(LINKREPORT_[A-Z_]+), /mg;
my %env = @keys;
cmp_ok(scalar(keys %env), '>=', 30, 'config --help lists the keys with their variables');
open my $doc, '<', "$FindBin::Bin/../../docs/reporter.md" or die $!;
my $docs = do { local $/; <$doc> };
for my $key (sort keys %env) {
    like($docs, qr/^\| `\Q$key\E` \| `\Q$env{$key}\E` \|/m, "docs/reporter.md lists $key with $env{$key}");
}
($rc, $out) = lr('--help');
like($out, qr/--metrics-listen VALUE .*LINKREPORT_METRICS_LISTEN/, '--help has the global keys from the table');
# the drain options' defaults in the table are those of drain --help
my $table = effective();
($rc, $out) = lr('drain', '--help');
for my $key (qw(group count block-ms claim-idle-ms)) {
    like($out, qr/--\Q$key\E .*\(default \Q$table->{$key}[0]\E\)/, "drain --help and the table agree on $key");
}
done_testing();
