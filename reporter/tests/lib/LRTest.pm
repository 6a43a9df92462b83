# Shared helpers for the reporter tests: an isolated database, stream and key prefix per
# test file, running the binary, and talking to PostgreSQL and Redis with their own CLIs.
package LRTest;
use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use IPC::Run ();
use Test::More;

our @EXPORT = qw(setup_isolated lr lr_ok psql psql_rows redis redis_hash xadd_click xadd_record record_value
                 new_click_id click_fields);

my $root = File::Spec->rel2abs(dirname(__FILE__) . '/../../..');
my $admin_db = $ENV{LINKREPORT_DB} // 'postgresql:///linkreport';
my ($test_db, $redis_ns);

sub binary {
    my $bin = $ENV{LINKREPORT_BIN} // "$root/build/linkreport";
    return File::Spec->rel2abs($bin);
}

sub with_dbname {
    my ($conninfo, $db) = @_;
    if ($conninfo =~ m{^(postgres(?:ql)?://[^/?]*)(?:/[^?]*)?(\?.*)?$}) {
        return $1 . "/$db" . ($2 // '');
    }
    return "$conninfo dbname=$db";
}

sub redis_args {
    my $addr = $ENV{LINKREPORT_REDIS} // '127.0.0.1:6379';
    return ('-s', $1) if $addr =~ /^unix:(.*)$/;
    $addr =~ /^\[?(.*?)\]?:(\d+)$/ or die "cannot parse LINKREPORT_REDIS '$addr'";
    return ('-h', $1, '-p', $2);
}

# A fresh database (migrated unless told otherwise), stream key and key prefix for this
# file; removed again when the file ends.
sub setup_isolated {
    my ($name, %opt) = @_;
    $test_db = "lrtest_${name}_$$";
    run_psql($admin_db, "DROP DATABASE IF EXISTS $test_db");
    run_psql($admin_db, "CREATE DATABASE $test_db");
    $ENV{LINKREPORT_DB} = with_dbname($admin_db, $test_db);
    $redis_ns = "lrtest:$name:$$:";
    $ENV{LINKREPORT_STREAM} = "${redis_ns}clicks";
    $ENV{LINKREPORT_KEY_PREFIX} = "${redis_ns}link:";
    $ENV{LINKREPORT_BASE_URL} //= 'http://klr.bz';
    unless ($opt{no_migrate}) {
        my ($rc, $out, $err) = lr('migrate');
        die "migrate failed: $err" if $rc != 0;
    }
    return $test_db;
}

END {
    my $status = $?;
    if ($test_db) {
        eval { run_psql($admin_db, "DROP DATABASE IF EXISTS $test_db WITH (FORCE)") };
    }
    if ($redis_ns) {
        my $keys = redis('--scan', '--pattern', "$redis_ns*");
        redis('DEL', $_) for grep { length } split /\n/, $keys;
    }
    $? = $status;
}

# Runs the binary; returns (exit status, stdout, stderr). Sanitizer reports fail the test.
sub lr {
    my @args = @_;
    my ($in, $out, $err) = ('', '', '');
    IPC::Run::run([binary(), @args], \$in, \$out, \$err);
    my $rc = $? >> 8;
    $rc = 128 + ($? & 127) if $? & 127;
    if ($err =~ /(Sanitizer|runtime error:)/) {
        fail("no sanitizer report for: @args");
        diag($err);
    }
    return ($rc, $out, $err);
}

# Runs the binary expecting exit 0; returns stdout.
sub lr_ok {
    my ($rc, $out, $err) = lr(@_);
    is($rc, 0, "linkreport @_[0 .. ($#_ < 3 ? $#_ : 3)] exits 0") or diag($err);
    return $out;
}

sub run_psql {
    my ($db, $sql) = @_;
    my ($out, $err) = ('', '');
    IPC::Run::run(['psql', '-X', '-q', '-A', '-t', '-F', "\x1f", '-v', 'ON_ERROR_STOP=1',
                   '-d', $db, '-c', $sql], \(my $empty = q()), \$out, \$err)
        or die "psql failed: $err ($sql)";
    chomp $out;
    return $out;
}

# One value (or the whole output) from the test database.
sub psql { return run_psql($ENV{LINKREPORT_DB}, $_[0]) }

# Rows as arrays of columns.
sub psql_rows {
    my $out = psql($_[0]);
    return [map { [split /\x1f/, $_, -1] } grep { length } split /\n/, $out];
}

sub redis {
    my @cmd = @_;
    my ($out, $err) = ('', '');
    IPC::Run::run(['redis-cli', redis_args(), @cmd], \(my $empty = q()), \$out, \$err)
        or die "redis-cli failed: $err";
    chomp $out;
    return $out;
}

# HGETALL as a Perl hash (values must not contain newlines).
sub redis_hash {
    my @items = split /\n/, redis('HGETALL', $_[0]), -1;
    @items = () if @items == 1 && $items[0] eq '';
    return {@items};
}

sub new_click_id {
    return join '', map { sprintf '%04x', int(rand(65536)) } 1 .. 8;
}

# Every contract field, with overrides.
sub click_fields {
    my (%over) = @_;
    my %f = (
        click_id => new_click_id(), code => 'QS6', recipient => '2rdK6',
        short_url => 'http://klr.bz/QS6/2rdK6', txtly_id => '1234564', company_id => 'acme',
        campaign_name => 'spring', template_id => 'tpl-1', channel => 'SMS',
        long_url => 'https://abc.xyz.net/docs/1xxJPEG.jpeg', message_id => 'msg-1',
        mobile_number => '919876543210', created_on => '1734158329',
        visited_on => '1708334691000', client_ip => '49.36.100.231', country => 'India',
        city => 'Bengaluru', browser => 'Chrome', platform => 'AndroidOS',
        platform_version => '10', engine => 'WebKit', device_type => 'Phone',
        user_agent => 'Mozilla/5.0 (Linux; Android 10)', method => 'GET',
        %over,
    );
    delete $f{$_} for grep { !defined $f{$_} } keys %f;
    return %f;
}

# XADDs one entry to this file's stream; returns its stream id.
sub xadd_click {
    my (%fields) = @_;
    return redis('XADD', $ENV{LINKREPORT_STREAM}, '*', %fields);
}

# The edge's record (docs/data-contract.md, version 2): one field "record" holding "2" and
# every contract value in order, TAB-separated, with \\ \t \n \r escaped.
our @RecordFields = qw(click_id code recipient short_url txtly_id mobile_number client_ip
    browser platform platform_version engine country city visited_on device_type created_on
    long_url channel message_id company_id campaign_name template_id user_agent method
    non_human);
my %Escape = ("\\" => "\\\\", "\t" => "\\t", "\n" => "\\n", "\r" => "\\r");

sub record_value {
    my (%fields) = @_;
    return join "\t", '2', map { (my $v = $fields{$_} // '') =~ s/([\\\t\n\r])/$Escape{$1}/g; $v }
        @RecordFields;
}

# XADDs one version-2 record (raw record text when given as a single string).
sub xadd_record {
    my $value = @_ == 1 ? $_[0] : record_value(@_);
    return redis('XADD', $ENV{LINKREPORT_STREAM}, '*', 'record', $value);
}

1;
