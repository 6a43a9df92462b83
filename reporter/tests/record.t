#!/usr/bin/perl
# drain of the edge's version-2 record: one field "record", values TAB-separated and escaped
# (docs/data-contract.md); version-1 field/value entries still drain beside them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use LRTest;

setup_isolated('record');

sub drain_once {
    my ($rc, $out, $err) = lr('drain', '--once');
    is($rc, 0, 'drain --once exits 0') or diag($err);
    return $out;
}

my $cols = join ', ', qw(click_id company_id txtly_id code recipient short_url mobile_number
    client_ip browser platform platform_version engine country city device_type long_url channel
    message_id campaign_name template_id user_agent method non_human);
# psql's output is one row a line: LF and CR inside values are shown as <LF> and <CR>
# on both sides of the comparison
my $shown = join ', ', map { "replace(replace(${_}::text, E'\\n', '<LF>'), E'\\r', '<CR>')" } split /, /, $cols;
sub row_of {
    my ($id) = @_;
    return psql_rows("SELECT $shown, (extract(epoch FROM visited_on) * 1000)::bigint, "
                   . "extract(epoch FROM created_on)::bigint FROM clicks WHERE click_id = '$id'")->[0];
}
sub expected_row {
    my (%f) = @_;
    return [ (map { ($f{$_} // '') =~ s/\n/<LF>/gr =~ s/\r/<CR>/gr } split /, /, $cols),
             $f{visited_on}, $f{created_on} ];
}

# Every value arrives where it belongs, escapes undone; separators inside values survive.
my %full = click_fields(non_human => 'preview', campaign_name => "tab\there, new\nline",
    user_agent => "Mozilla/5.0 \\ (back\\slash) \r\n", long_url => 'https://e.com/?a=1&b=\\t');
xadd_record(%full);
# and a version-1 entry in the same batch
my %v1 = click_fields(non_human => '');
xadd_click(%v1);
is(drain_once(), "drained: 2 stored, 0 duplicates, 0 dead letters\n", 'a record and a v1 entry stored');
is_deeply(row_of($full{click_id}), expected_row(%full), 'every value of the record stored as sent')
    or diag explain row_of($full{click_id});
is_deeply(row_of($v1{click_id}), expected_row(%v1), 'the version-1 entry too');

# A replayed record (same click id) is stored once.
xadd_record(%full);
is(drain_once(), "drained: 0 stored, 1 duplicates, 0 dead letters\n", 'a replayed record is a duplicate');

# Values a later edge appends are ignored.
my %later = click_fields();
xadd_record(record_value(%later) . "\tsomething-new\tmore");
is(drain_once(), "drained: 1 stored, 0 duplicates, 0 dead letters\n", 'a record with extra values is stored');
is_deeply(row_of($later{click_id}), expected_row(%later, non_human => ''), 'its known values stored');

# Invalid UTF-8 in a value becomes U+FFFD rather than losing the click.
my %latin = click_fields(city => "S\xe3o Paulo");
xadd_record(%latin);
is(drain_once(), "drained: 1 stored, 0 duplicates, 0 dead letters\n", 'non-UTF-8 value: stored');
is(psql("SELECT city FROM clicks WHERE click_id = '$latin{click_id}'"), "S\xef\xbf\xbdo Paulo",
   'the bad byte replaced by U+FFFD');

# Malformed records: dead letters with the reason, acknowledged, nothing stored.
my $full_text = record_value(click_fields());
(my $short = $full_text) =~ s/\t[^\t]*$//;
my @bad = (
    ["1\t" . substr($full_text, 2), 'record version is not 2'],
    ['', 'record version is not 2'],
    ['2', 'record has fewer values than the contract\'s fields'],
    [$short, 'record has fewer values than the contract\'s fields'],
    [$full_text =~ s/\tGET\t/\tG\\xT\t/r, 'record holds an unknown escape'],
    [$full_text . '\\', 'record ends inside an escape'],
    [record_value(click_fields(click_id => 'XYZ')), 'click_id is not 32 lowercase hex characters'],
    [record_value(click_fields(company_id => '')), 'missing company_id'],
    [record_value(click_fields(visited_on => 'soon')), 'visited_on is not Unix milliseconds'],
    [record_value(click_fields()) . "\r\n", 'non_human is not empty, bot, preview, head or prefetch'],
    ["9\t" . ("\x01" x 100_000), 'record version is not 2'],
);
my %want = map { (xadd_record($_->[0]) => $_->[1]) } @bad;
$want{redis('XADD', $ENV{LINKREPORT_STREAM}, '*', 'record', $full_text, 'click_id', new_click_id())}
    = 'a record field beside other fields';
is(drain_once(), "drained: 0 stored, 0 duplicates, " . (@bad + 1) . " dead letters\n",
   'every malformed record is a dead letter');
my %got = map { ($_->[0] => $_->[1]) }
    @{psql_rows("SELECT stream_id, reason FROM dead_letters WHERE stream = '$ENV{LINKREPORT_STREAM}'")};
is_deeply(\%got, \%want, 'each with its reason');
is((split /\n/, redis('XPENDING', $ENV{LINKREPORT_STREAM}, 'linkreport'))[0], 0, 'all acknowledged');
is(psql("SELECT max(length(entry)) < 400000 AND bool_or(entry LIKE '%... [100002 bytes, cut]%') FROM dead_letters"),
   't', 'a huge value is kept cut, with its size');

done_testing();
