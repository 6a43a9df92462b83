#!/usr/bin/perl
# link create / link publish: PostgreSQL rows and the Redis hash per docs/data-contract.md;
# refusals exit 65 and write nothing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use LRTest;

setup_isolated('link');
$ENV{LINKREPORT_BASE_URL} = 'http://klr.bz/';   # trailing slash must not double up
my $prefix = $ENV{LINKREPORT_KEY_PREFIX};
lr_ok('company', 'create', '--id', 'acme', '--name', 'Acme', '--timezone', 'Asia/Kolkata',
      '--owner-email', 'o@acme.example');

sub link_row {
    my ($code) = @_;
    my $rows = psql_rows("SELECT txtly_id, company_id, long_url, short_url, campaign_name, template_id, channel, message_id, track_user, floor(extract(epoch FROM created_on))::bigint FROM links WHERE code = '$code'");
    return $rows->[0];
}

# Plain link with a generated code.
my $out = lr_ok('link', 'create', '--company', 'acme', '--long-url', 'https://example.com/a?b=1&c=2',
                '--campaign', 'spring, sale', '--template-id', 'tpl-9', '--channel', 'SMS',
                '--message-id', 'm-42');
like($out, qr{^http://klr\.bz/([A-Za-z0-9]{6})\n\z}, 'prints the short URL with a 6-char base62 code');
my ($code) = $out =~ m{/([A-Za-z0-9]{6})\n};
my $row = link_row($code);
ok($row, 'link row stored');
my ($txtly_id, $created_on) = ($row->[0], $row->[9]);
is_deeply([@$row[1 .. 8]], ['acme', 'https://example.com/a?b=1&c=2', "http://klr.bz/$code",
                            'spring, sale', 'tpl-9', 'SMS', 'm-42', 'f'], 'link columns');
is_deeply(redis_hash("$prefix$code"), {
    long_url => 'https://example.com/a?b=1&c=2', short_url => "http://klr.bz/$code",
    txtly_id => $txtly_id, company_id => 'acme', campaign_name => 'spring, sale',
    template_id => 'tpl-9', channel => 'SMS', message_id => 'm-42', created_on => $created_on,
    track_user => '0',
}, 'Redis hash holds exactly the contract fields');
cmp_ok(abs($created_on - time()), '<', 600, 'created_on is Unix seconds');

# Track-user link with a slug.
$out = lr_ok('link', 'create', '--company', 'acme', '--long-url', 'HTTP://Example.com/x',
             '--slug', 'QS6', '--message-id', 'link-msg',
             '--recipient', '+4915112345678:msg-1', '--recipient', '919876543210');
my @lines = split /\n/, $out;
is(scalar @lines, 2, 'one line per recipient');
my %tokens;
for my $line (@lines) {
    like($line, qr{^http://klr\.bz/QS6/([A-Za-z0-9]{5})\t(\+?\d+)\t(.*)$}, "recipient line: $line");
    my ($token, $mobile, $msg) = $line =~ m{/QS6/([A-Za-z0-9]{5})\t([^\t]*)\t(.*)$};
    $tokens{$token} = "$mobile\t$msg";
}
is_deeply([sort values %tokens], ["+4915112345678\tmsg-1", "919876543210\t"], 'mobiles and message ids');
$row = link_row('QS6');
is($row->[8], 't', 'track_user stored');
is_deeply({map { ($_->[0] => "$_->[1]\t$_->[2]") } @{psql_rows("SELECT token, mobile_number, message_id FROM link_recipients WHERE txtly_id = $row->[0]")}},
          \%tokens, 'link_recipients rows');
my $hash = redis_hash("${prefix}QS6");
is_deeply($hash, {
    long_url => 'HTTP://Example.com/x', short_url => 'http://klr.bz/QS6', txtly_id => $row->[0],
    company_id => 'acme', campaign_name => '', template_id => '', channel => '',
    message_id => 'link-msg', created_on => $row->[9], track_user => '1',
    map { ("r:$_" => $tokens{$_}) } keys %tokens,
}, 'track-user hash has r:{token} = mobile TAB message id');

# link publish restores a lost hash exactly.
redis('DEL', "${prefix}QS6");
redis('HSET', "${prefix}QS6", 'r:stale', "1\t2");
$out = lr_ok('link', 'publish', '--code', 'QS6');
is(scalar(split /\n/, $out), 2, 'publish prints the recipient lines');
is_deeply(redis_hash("${prefix}QS6"), $hash, 'republished hash identical, stale field gone');
my ($rc, $o, $err) = lr('link', 'publish', '--code', 'nope');
is($rc, 65, 'publish of an unknown code exits 65');
like($err, qr/^linkreport: link publish: unknown code 'nope'/, 'publish unknown code message');

# Refusals: exit 65, the message, nothing written.
my $links_before = psql('SELECT count(*) FROM links');
my $keys_before = redis('EVAL', "return #redis.call('KEYS', ARGV[1])", '0', "$prefix*");
my @base = ('--company' => 'acme', '--long-url' => 'https://example.com/');
my @refusals = (
    [['--long-url', 'javascript:alert(1)'], '--long-url must start with http:// or https://'],
    [['--long-url', 'ftp://example.com/f'], '--long-url must start with http:// or https://'],
    [['--long-url', 'example.com'], '--long-url must start with http:// or https://'],
    [['--long-url', "https://example.com/\r\nSet-Cookie: a=b"], '--long-url must not contain spaces or control characters'],
    [['--long-url', "https://example.com/\x01"], '--long-url must not contain spaces or control characters'],
    [['--long-url', "https://example.com/\x7f"], '--long-url must not contain spaces or control characters'],
    [['--long-url', 'https://example.com/a b'], '--long-url must not contain spaces or control characters'],
    [['--long-url', 'https://example.com/' . ('a' x 2030)], '--long-url must be at most 2048 bytes'],
    [['--long-url', 'https:///path'], '--long-url must have a host'],
    [['--long-url', 'http://'], '--long-url must have a host'],
    [['--slug', 'bad slug'], '--slug must match [A-Za-z0-9_-]{1,64}'],
    [['--slug', 'a/b'], '--slug must match [A-Za-z0-9_-]{1,64}'],
    [['--slug', 'x' x 65], '--slug must match [A-Za-z0-9_-]{1,64}'],
    [['--slug', ''], '--slug must match [A-Za-z0-9_-]{1,64}'],
    [['--slug', 'QS6'], "slug 'QS6' is already taken"],
    [['--company', 'nobody'], "unknown company 'nobody'"],
    [['--company', 'no body'], 'unknown company'],
    [['--recipient', '12ab34'], '--recipient mobile number must match +?[0-9]{4,20}'],
    [['--recipient', '123'], '--recipient mobile number must match +?[0-9]{4,20}'],
    [['--recipient', '+49 151 123'], '--recipient mobile number must match +?[0-9]{4,20}'],
    [['--recipient', '4915112345678', '--recipient', ''], '--recipient mobile number must match'],
    [['--recipient', "4915112345678:a\tb"], '--recipient message id must have no control characters'],
    [['--campaign', "multi\nline"], '--campaign must not contain control characters'],
    [['--message-id', 'x' x 257], '--message-id must be at most 256 bytes'],
);
for my $case (@refusals) {
    my ($over, $msg) = @$case;
    my %args = (@base, @$over);
    my @args = map { ($_ => $args{$_}) } grep { $_ ne '--recipient' } keys %args;
    push @args, map { ('--recipient', $over->[$_ + 1]) } grep { $over->[$_] eq '--recipient' } 0 .. $#$over;
    ($rc, $o, $err) = lr('link', 'create', @args);
    (my $what = join(' ', @$over)) =~ s/[^\x21-\x7e ]/?/g;
    $what = substr($what, 0, 60);
    is($rc, 65, "exit 65 for $what");
    like($err, qr/^linkreport: link create: \Q$msg\E[^\n]*\n\z/, "one-line message for $what");
    is($o, '', "no output for $what");
}
is(psql('SELECT count(*) FROM links'), $links_before, 'refusals stored no link');
is(psql('SELECT count(*) FROM link_recipients'), '2', 'refusals stored no recipient');
is(redis('EVAL', "return #redis.call('KEYS', ARGV[1])", '0', "$prefix*"), $keys_before,
   'refusals published nothing');

# Exactly 2048 bytes is fine.
my $long = 'https://example.com/' . ('b' x (2048 - 20));
is(length $long, 2048, 'URL of 2048 bytes');
$out = lr_ok('link', 'create', '--company', 'acme', '--long-url', $long);
($code) = $out =~ m{/([A-Za-z0-9]{6})\n};
is(redis('HGET', "$prefix$code", 'long_url'), $long, 'long URL published intact');

# Stored but not published: writes paused in Redis make the HSET time out after commit.
redis('CLIENT', 'PAUSE', '8000', 'WRITE');
($rc, $o, $err) = lr('link', 'create', '--company', 'acme', '--long-url', 'https://example.com/p',
                     '--slug', 'paused');
redis('CLIENT', 'UNPAUSE');
is($rc, 69, 'Redis failing after the commit exits 69');
like($err, qr/^linkreport: link create: link 'paused' \(txtly_id \d+\) is stored but not published to Redis \([^\n]+\); run 'linkreport link publish --code paused'\n\z/,
     'says the link is stored but not published');
is($o, '', 'no short URL printed');
is(psql("SELECT count(*) FROM links WHERE code = 'paused'"), '1', 'the link is in PostgreSQL');
is(redis('EXISTS', "${prefix}paused"), '0', 'but not in Redis');
$out = lr_ok('link', 'publish', '--code', 'paused');
is($out, "http://klr.bz/paused\n", 'link publish prints the short URL');
is(redis('HGET', "${prefix}paused", 'long_url'), 'https://example.com/p', 'now published');

done_testing();
