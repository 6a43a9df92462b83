package LinkReport::Test;

# Shared setup of the Test::Nginx suites: loads the module into Debian's nginx, points
# it at the test Redis, gives every block its own click stream, seeds link hashes and
# checks the click record a block expects:
#
#   --- links eval       { code => { long_url => ..., ... }, ... }   HSETs before the block
#   --- click eval       { field => 'exact' or qr/regex/, ... }     the one entry expected
#   --- no_click                                                     no entry may appear
#   --- no_linkreport_defaults       the block's http_config is all the module gets
#   --- between eval     [CODE, ...]   Perl run after request i, before request i + 1
#
# Environment: LR_REDIS_PORT (the test Redis), LINKREPORT_MODULE (the .so under test).

use strict;
use warnings;

use Test::Nginx::Socket ();
use Test::More ();
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Exporter ();
our @ISA = ('Exporter');

our @EXPORT = qw(redis_cmd stream_entries pipelined_taps wait_records $RedisPort $ModulePath
                 $SharedDir $Root);

our $Root = abs_path(dirname(__FILE__) . '/../../..');
our $RedisPort = $ENV{LR_REDIS_PORT} || 6390;
our $ModulePath = $ENV{LINKREPORT_MODULE}
    || "$Root/build/nginx/objs/ngx_http_linkreport_module.so";
our $SharedDir = $ENV{LINKREPORT_SHARED} || abs_path("$Root/../shared");

$ENV{TEST_NGINX_BINARY} ||= '/usr/sbin/nginx';
$ENV{TEST_NGINX_REDIS_PORT} = $RedisPort;
$ENV{TEST_NGINX_SHARED} = $SharedDir;

my $redis;

sub redis_cmd {
    my @args = @_;
    $redis ||= IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $RedisPort,
                                     Proto => 'tcp')
        or die "cannot reach the test Redis on 127.0.0.1:$RedisPort: $!\n";
    my $req = '*' . scalar(@args) . "\r\n";
    for my $a (@args) {
        my $bytes = $a;
        utf8::encode($bytes) if utf8::is_utf8($bytes);
        $req .= '$' . length($bytes) . "\r\n$bytes\r\n";
    }
    print {$redis} $req;
    return _read_reply();
}

sub _read_line {
    my $line = <$redis>;
    die "redis closed the connection\n" unless defined $line;
    $line =~ s/\r\n\z//;
    return $line;
}

sub _read_reply {
    my $line = _read_line();
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+';
    die "redis error: $rest\n" if $type eq '-';
    return $rest + 0 if $type eq ':';
    if ($type eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        while (length($buf) < $rest + 2) {
            my $n = read($redis, $buf, $rest + 2 - length($buf), length($buf));
            die "redis read failed\n" unless $n;
        }
        return substr($buf, 0, $rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [ map { _read_reply() } 1 .. $rest ];
    }
    die "unexpected redis reply: $line\n";
}

# the record's values, in docs/data-contract.md's order
our @RecordFields = qw(click_id code recipient short_url txtly_id mobile_number client_ip
    browser platform platform_version engine country city visited_on device_type created_on
    long_url channel message_id company_id campaign_name template_id user_agent method
    non_human);
my %Unescape = ('\\' => '\\', t => "\t", n => "\n", r => "\r");

# every click record of a stream as a hashref (its entry's id under "_id", the number
# of records that entry holds under "_records"). The edge writes one field, "record":
# one or more records, LF between two, each "2" TAB value TAB value ...; anything else
# is returned as its fields, with "_bad" saying why it is not a record, so a check on
# any contract field fails.
sub stream_entries {
    my ($key) = @_;
    my $raw = redis_cmd('XRANGE', $key, '-', '+');
    my @entries;
    for my $e (@$raw) {
        my @kv = @{ $e->[1] };
        my @records;
        if (@kv == 2 && $kv[0] eq 'record') {
            for my $record (split /\n/, $kv[1], -1) {
                my ($version, @values) = split /\t/, $record, -1;
                my %f;
                if (!defined $version || $version ne '2' || @values != @RecordFields
                    || grep { !/^(?:[^\\]|\\[\\tnr])*$/s } @values) {
                    %f = (_bad => "malformed record: $record");
                } else {
                    s/\\([\\tnr])/$Unescape{$1}/g for @values;
                    @f{@RecordFields} = @values;
                }
                push @records, \%f;
            }
        } else {
            @records = ({ @kv, _bad => 'not a one-field record' });
        }
        for my $f (@records) {
            $f->{_id} = $e->[0];
            $f->{_records} = scalar @records;
            push @entries, $f;
        }
    }
    return @entries;
}

# Sends the requests (each a list of header lines after "GET PATH HTTP/1.1") in one
# write on one connection to the test server, so that nginx answers them in one event
# loop turn, the last one closing it; returns how many answers were 302 redirects.
sub pipelined_taps {
    my (@requests) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$Test::Nginx::Util::ServerPort")
        or die "connect: $!";
    my $i = 0;
    print $s join '', map {
        my ($path, @headers) = @$_;
        "GET $path HTTP/1.1\r\nHost: localhost\r\n" . join('', map { "$_\r\n" } @headers)
            . (++$i == @requests ? "Connection: close\r\n" : '') . "\r\n"
    } @requests;
    my $answers = do { local $/; <$s> };
    return scalar(() = $answers =~ m{^HTTP/1.1 302 }mg);
}

# The stream's records once it holds at least $want of them (or the wait is over).
sub wait_records {
    my ($stream, $want) = @_;
    my @records;
    my $deadline = time + ($ENV{TEST_NGINX_USE_VALGRIND} ? 15 : 3);
    while (1) {
        @records = stream_entries($stream);
        last if @records >= $want || time > $deadline;
        sleep 0.05;
    }
    return @records;
}

sub block_stream {
    my ($block) = @_;
    (my $slug = $block->name) =~ s/[^A-Za-z0-9]+/-/g;
    return "t:clicks:$slug";
}

# suites say: use Test::Nginx::Socket 'no_plan'; use lib 't/lib'; use LinkReport::Test;
sub import {
    Test::Nginx::Socket::no_root_location();
    Test::Nginx::Socket::add_block_preprocessor(\&_preprocess);
    Test::Nginx::Socket::add_response_body_check(\&_between);
    Test::Nginx::Socket::add_response_body_check(\&_check_click);
    __PACKAGE__->export_to_level(1, @_);
}

sub _preprocess {
    my ($block) = @_;
    # named once: Test::Nginx prefixes the block's name with the file's later on
    my $stream = $block->{linkreport_stream} = block_stream($block);

    my $main = "load_module $ModulePath;\n" . ($block->main_config // '');
    $block->set_value('main_config', $main);

    if (defined $block->http_config && $block->http_config =~ /linkreport_stream\s+(\S+);/) {
        $stream = $block->{linkreport_stream} = $1;
    }

    if (!defined $block->no_linkreport_defaults
        && (!defined $block->http_config || $block->http_config !~ /linkreport_redis\b/))
    {
        my $http = "linkreport_redis 127.0.0.1:$RedisPort;\n"
                 . "linkreport_stream $stream;\n"
                 . "linkreport_geoip_db $SharedDir/testdata/maxmind/GeoLite2-City-Test.mmdb;\n"
                 . ($block->http_config // '');
        $block->set_value('http_config', $http);
    }

    redis_cmd('DEL', $stream);

    if (my $links = $block->links) {
        for my $code (sort keys %$links) {
            my $key = "linkreport:link:$code";
            redis_cmd('DEL', $key);
            redis_cmd('HSET', $key, %{ $links->{$code} });
        }
    }
}

sub _between {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    return if $dry_run || !defined $block->between;
    my $code = $block->between->[$req_idx];
    return unless $code;
    eval "package main; $code";
    die "between: $@" if $@;
}

sub _check_click {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    return if $dry_run;
    return unless defined $block->click || defined $block->no_click;

    my $stream = $block->{linkreport_stream};
    my $name = $block->name;
    my $deadline = time + ($ENV{TEST_NGINX_USE_VALGRIND} ? 15 : 3);
    my @entries;

    if (defined $block->no_click) {
        sleep($ENV{TEST_NGINX_USE_VALGRIND} ? 2 : 0.3);
        @entries = stream_entries($stream);
        Test::More::is(scalar(@entries), 0, "$name - no click recorded");
        return;
    }

    while (1) {
        @entries = stream_entries($stream);
        last if @entries || time > $deadline;
        sleep 0.05;
    }

    Test::More::is(scalar(@entries), 1, "$name - exactly one click recorded");
    my $got = $entries[0] || {};
    my $want = $block->click;
    for my $field (sort keys %$want) {
        my $exp = $want->{$field};
        my $val = $got->{$field};
        if (ref $exp eq 'Regexp') {
            Test::More::like($val, $exp, "$name - click $field");
        } else {
            my $bytes = $exp;
            utf8::encode($bytes);   # expectations are written as characters
            Test::More::is($val, $bytes, "$name - click $field");
        }
    }

    # a well-formed record: the version and every value of the contract, even when empty
    Test::More::is($got->{_bad} // '', '', "$name - click is a well-formed record");
    my @missing = grep { !exists $got->{$_} } @RecordFields;
    Test::More::is("@missing", '', "$name - click has every contract field");
}

1;
