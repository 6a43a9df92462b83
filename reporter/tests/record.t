#!/usr/bin/perl
# drain of the edge's version-2 record: one field "record", values TAB-separated and escaped
# (docs/data-contract.md); version-1 field/value entries still drain beside them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use LRTest;
use LROps;

setup_isolated('record');
my $stream = $ENV{LINKREPORT_STREAM};

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
    [record_value(click_fields()) . "\r", 'non_human is not empty, bot, preview, head or prefetch'],
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

# --- Several records in one entry (the edge batches one event-loop cycle's clicks): each
# is read on its own, separated by a raw LF.
psql('TRUNCATE clicks, dead_letters');
sub batch_of { return join "\n", map { ref $_ ? record_value(%$_) : $_ } @_ }
sub dead_of {
    my ($id) = @_;
    return psql_rows("SELECT record_no, reason, entry FROM dead_letters WHERE stream_id = '$id' ORDER BY record_no");
}

my @three = map { +{ click_fields(city => "city $_") } } 1 .. 3;
my $id3 = xadd_record(batch_of(@three));
is(drain_once(), "drained: 3 stored, 0 duplicates, 0 dead letters\n", 'an entry of 3 records: 3 stored');
is_deeply(psql_rows("SELECT click_id, stream_id, city FROM clicks ORDER BY city"),
          [map { [$_->{click_id}, $id3, $_->{city}] } @three],
          'three rows, their own click ids and values, the entry\'s stream id');
is_deeply(row_of($three[1]{click_id}), expected_row(%{$three[1]}, non_human => ''),
          'every value of a record in the middle of the entry stored as sent');

# The 2nd of 3 is bad: the other two stored, the bad one its own dead letter.
my @mixed = (+{ click_fields() }, +{ click_fields(click_id => 'NOT-HEX') }, +{ click_fields() });
my $bad_record = record_value(%{$mixed[1]});
my $idm = xadd_record(batch_of(@mixed));
is(drain_once(), "drained: 2 stored, 0 duplicates, 1 dead letters\n", '3 records, the 2nd bad: 2 stored, 1 dead letter');
is(psql("SELECT string_agg(click_id, ',' ORDER BY click_id) FROM clicks WHERE stream_id = '$idm'"),
   join(',', sort map { $_->{click_id} } @mixed[0, 2]), 'the good records stored');
my $dead = dead_of($idm);
is(scalar @$dead, 1, 'one dead letter for the entry');
is_deeply([@{$dead->[0]}[0, 1]], [2, 'record 2 of 3: click_id is not 32 lowercase hex characters'],
          'its reason names the record');
is(psql("SELECT entry::jsonb = jsonb_build_object('record', \$\$${bad_record}\$\$::text)"
      . " FROM dead_letters WHERE stream_id = '$idm'"), 't', 'its entry is {"record": that record} only');
is((split /\n/, redis('XPENDING', $stream, 'linkreport'))[0], 0, 'nothing left pending');

# Several bad records of one entry: each its own dead letter (a trailing LF is an empty
# record; a stray CR LF at the end of a record leaves a CR and an empty record).
my %ok1 = click_fields();
my $idb = xadd_record(batch_of({%ok1}, 'junk') . "\n");
my $idc = xadd_record(record_value(click_fields()) . "\r\n");
my $idd = xadd_record("\n\n");
is(drain_once(), "drained: 1 stored, 0 duplicates, 7 dead letters\n", 'each bad record is a dead letter');
is_deeply([map { [@$_[0, 1]] } @{dead_of($idb)}],
          [[2, 'record 2 of 3: record version is not 2'], [3, 'record 3 of 3: empty record']],
          'a bad record and the empty one after a trailing LF');
is_deeply([map { [@$_[0, 1]] } @{dead_of($idc)}],
          [[1, 'record 1 of 2: non_human is not empty, bot, preview, head or prefetch'],
           [2, 'record 2 of 2: empty record']], 'CR LF at the end: the CR is in non_human, then an empty record');
is_deeply([map { [@$_[0, 1, 2]] } @{dead_of($idd)}],
          [map { [$_, "record $_ of 3: empty record", '{"record":""}'] } 1 .. 3], 'two raw LFs: three empty records');
is(psql("SELECT count(*) FROM clicks WHERE click_id = '$ok1{click_id}'"), 1, 'the good record beside them stored');

# The same records delivered twice (the edge retried an XADD): each click once.
my @again = map { +{ click_fields() } } 1 .. 3;
xadd_record(batch_of(@again)) for 1 .. 2;
is(drain_once(), "drained: 3 stored, 3 duplicates, 0 dead letters\n", 'the same entry twice in a batch: each click once');
xadd_record(batch_of(@again));
is(drain_once(), "drained: 0 stored, 3 duplicates, 0 dead letters\n", 'and once more later: all duplicates');
is(psql('SELECT count(*) FROM clicks WHERE click_id IN (' . join(',', map {"'$_->{click_id}'"} @again) . ')'), 3,
   'three rows');
# a click_id twice within one entry: the first record is kept
my %twice = click_fields(city => 'first');
xadd_record(batch_of({%twice}, { %twice, city => 'second' }));
is(drain_once(), "drained: 1 stored, 1 duplicates, 0 dead letters\n", 'a click twice in one entry');
is(psql("SELECT city FROM clicks WHERE click_id = '$twice{click_id}'"), 'first', 'the first one kept');

# --count counts clicks: a backlog of entries of 64 records each is read about 100
# records a batch with --count 100, not 100 entries (6,400 clicks) a batch.
psql('TRUNCATE clicks');
my $entries = 40;
load_clicks($stream, 0, map { ['record', batch_of(map { +{ click_fields() } } 1 .. 64)] } 1 .. $entries);
my $d = daemon('drain', '--count', '100', '--block-ms', '200', '--consumer', 'batcher', '--log-format', 'logfmt');
my $stored = wait_until(60, sub { my $n = psql('SELECT count(*) FROM clicks'); $n >= $entries * 64 ? $n : 0 }, $d);
my (undef, undef, $log) = stop_daemon($d);
is($stored, $entries * 64, 'the whole backlog stored');
my @batches = map { +{ /(\w+)=(\S+)/g } } grep { /event=batch_stored/ } split /\n/, $log;
my ($most) = sort { $b <=> $a } map { $_->{records} } @batches;
is(eval { my $t = 0; $t += $_->{records} for @batches; $t }, $entries * 64, 'the batches\' records add up')
    or diag($log);
cmp_ok($most, '<=', 128, "no batch over about 100 clicks (most: $most records)");
cmp_ok(scalar @batches, '>=', $entries / 2, scalar(@batches) . ' batches of 1 or 2 entries');
ok(!(grep { $_->{records} != 64 * $_->{entries} } @batches), 'records = 64 x entries in every batch');
is((split /\n/, redis('XPENDING', $stream, 'linkreport'))[0], 0, 'nothing left pending');

# More records than an edge writes (64): the entry is one dead letter, not one per record
# (a value of 100,000 LFs would otherwise insert and log 100,000 of them in one batch).
psql('TRUNCATE clicks, dead_letters');
my $id65 = xadd_record(batch_of(map { +{ click_fields() } } 1 .. 65));
my $idlf = xadd_record("\n" x 99_999);
my $id64 = xadd_record(batch_of(map { +{ click_fields() } } 1 .. 64));
is(drain_once(), "drained: 64 stored, 0 duplicates, 2 dead letters\n", '65 records and 100,000 empty ones: one dead letter each; 64 records stored');
is_deeply(psql_rows("SELECT stream_id, record_no, reason FROM dead_letters ORDER BY stream_id"),
          [sort { $a->[0] cmp $b->[0] } [$id65, 1, 'entry holds 65 records, more than the 64 an edge writes'],
                                         [$idlf, 1, 'entry holds 100000 records, more than the 64 an edge writes']],
          'the reasons say how many');
is(psql("SELECT count(*) FROM clicks WHERE stream_id = '$id64'"), 64, 'an entry of 64 records is stored whole');
is((split /\n/, redis('XPENDING', $stream, 'linkreport'))[0], 0, 'nothing left pending');

done_testing();
