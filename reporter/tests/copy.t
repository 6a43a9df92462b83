#!/usr/bin/perl
# drain writes batches with COPY into a staging table: COPY text escaping of every field,
# duplicates inside one batch and against stored rows, dead letters next to COPY rows.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use LRTest;

setup_isolated('copy');
my $stream = $ENV{LINKREPORT_STREAM};

sub drain_once {
    my ($rc, $out, $err) = lr('drain', '--once', @_);
    is($rc, 0, "drain --once @_ exits 0") or diag($err);
    return $out;
}

sub hex_of { my $s = shift; utf8::encode($s) if utf8::is_utf8($s); return unpack('H*', $s) }

# Every text column gets bytes COPY's text format treats as syntax: TAB, LF, CR,
# backslash, what looks like an escape (\N, \t, \x41, \041), the end-of-data marker
# "\." alone on a line, and a trailing backslash.
# (company_id and non_human are checked values, not free text: they stay valid here)
my @text = qw(code recipient short_url mobile_number client_ip browser platform
              platform_version engine country city device_type long_url channel message_id
              campaign_name template_id user_agent method);
my $nasty = "a\tb\nc\rd\\e \\N \\t \\x41 \\041\n\\.\nend\\";
my $id = new_click_id();
my %f = click_fields(click_id => $id, company_id => 'acme', non_human => '',
                     map { ($_ => "$_:$nasty") } @text);
my $sid = xadd_click(%f);
is(drain_once(), "drained: 1 stored, 0 duplicates, 0 dead letters\n", 'nasty entry stored');
for my $col (@text) {
    is(psql("SELECT encode(convert_to($col, 'UTF8'), 'hex') FROM clicks WHERE click_id = '$id'"),
       hex_of($f{$col}), "$col stored byte for byte");
}
is(psql("SELECT stream_id FROM clicks WHERE click_id = '$id'"), $sid, 'stream id stored');

# A value that is exactly \N is the two characters, not NULL; an absent field is NULL.
my $id2 = new_click_id();
xadd_click(click_fields(click_id => $id2, city => '\N', country => undef, user_agent => ''));
drain_once();
is(psql("SELECT city || '|' || coalesce(country, 'NULL') || '|' || (user_agent = '')::text FROM clicks WHERE click_id = '$id2'"),
   '\N|NULL|true', '\N literal, absent -> NULL, empty -> empty');

# Multibyte UTF-8 and control characters other than TAB/LF/CR pass unchanged.
my $id3 = new_click_id();
my $utf = "Bengalūru \x{0915}\x{093e} \x{1F600} bell\x07 esc\x1b";
my $utf_bytes = $utf; utf8::encode($utf_bytes);
xadd_click(click_fields(click_id => $id3, city => $utf_bytes));
drain_once();
is(psql("SELECT encode(convert_to(city, 'UTF8'), 'hex') FROM clicks WHERE click_id = '$id3'"),
   unpack('H*', $utf_bytes), 'UTF-8 and other control bytes unchanged');

# One batch: ids repeated inside it (first entry wins), ids already stored, dead letters.
my @new = map { new_click_id() } 1 .. 50;
for my $i (0 .. $#new) {
    xadd_click(click_fields(click_id => $new[$i], city => "first-$i"));
    xadd_click(click_fields(click_id => $new[$i], city => "second-$i")) if $i % 5 == 0;  # 10 repeats
}
xadd_click(click_fields(click_id => $new[0], city => 'third')) ;                        # 1 more
xadd_click(click_fields(click_id => $id, city => 'again'));                              # stored before
xadd_click(click_fields(click_id => $id2));                                              # stored before
xadd_click(click_fields(click_id => 'nothex')) for 1 .. 3;                               # dead letters
is(drain_once('--count', '1000'), "drained: 50 stored, 13 duplicates, 3 dead letters\n",
   'one batch: in-batch and stored duplicates counted, dead letters beside COPY rows');
is(psql('SELECT count(*) FROM clicks WHERE click_id IN (' . join(',', map {"'$_'"} @new) . ')'), 50,
   'each new id once');
is(psql("SELECT count(*) FROM clicks WHERE city LIKE 'first-%'"), 50, 'the first entry of each id won');
is(psql("SELECT city FROM clicks WHERE click_id = '$id'"), "city:$nasty", 'a stored row is not overwritten');
is((split /\n/, redis('XPENDING', $stream, 'linkreport'))[0], 0, 'all acknowledged');

# The same batch split across small batches gives the same counts.
my @again = map { new_click_id() } 1 .. 20;
xadd_click(click_fields(click_id => $_)) for @again, @again;
is(drain_once('--count', '7'), "drained: 20 stored, 20 duplicates, 0 dead letters\n",
   'duplicates across batches');

is(psql('SELECT count(*) FROM clicks'), 3 + 50 + 20, 'total rows');
done_testing();
