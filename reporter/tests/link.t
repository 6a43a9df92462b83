#!/usr/bin/perl
# link create / link publish: PostgreSQL rows and the Redis hash per docs/data-contract.md;
# refusals exit 65 and write nothing; Redis down: stored, 69, published later (--code,
# --all).
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
like($err, qr/^linkreport: link create: link 'paused' \(txtly_id \d+\) is stored in PostgreSQL but not published to Redis \([^\n]+\); run 'linkreport link publish --code paused' once Redis is back\n\z/,
     'says the link is stored but not published');
is($o, '', 'no short URL printed');
is(psql("SELECT count(*) FROM links WHERE code = 'paused'"), '1', 'the link is in PostgreSQL');
is(redis('EXISTS', "${prefix}paused"), '0', 'but not in Redis');
$out = lr_ok('link', 'publish', '--code', 'paused');
is($out, "http://klr.bz/paused\n", 'link publish prints the short URL');
is(redis('HGET', "${prefix}paused", 'long_url'), 'https://example.com/p', 'now published');

# Redis down before anything: the same outcome. PostgreSQL is the source of truth, so the
# link (and its recipients) is stored; 69 says it is not published and how to fix that.
($rc, $o, $err) = lr('link', 'create', '--redis', '127.0.0.1:1', '--company', 'acme',
                     '--long-url', 'https://example.com/down', '--slug', 'down',
                     '--recipient', '4915112345678:m-1', '--recipient', '919876543210');
is($rc, 69, 'Redis unreachable: link create exits 69');
like($err, qr/^linkreport: link create: link 'down' \(txtly_id \d+\) is stored in PostgreSQL but not published to Redis \(cannot connect to Redis at 127\.0\.0\.1:1: [^\n]+\); run 'linkreport link publish --code down' once Redis is back\n\z/,
     'says stored in PostgreSQL, not published, and what publishes it');
is($o, '', 'no short URL printed');
is(psql("SELECT count(*) FROM links WHERE code = 'down' AND track_user"), '1', 'the link is in PostgreSQL');
is(psql("SELECT count(*) FROM link_recipients r JOIN links l USING (txtly_id) WHERE l.code = 'down'"), '2',
   'with its recipients');
is(redis('EXISTS', "${prefix}down"), '0', 'and not in Redis');
$out = lr_ok('link', 'publish', '--code', 'down');
is(scalar(split /\n/, $out), 2, 'publish prints its recipient lines');
my $down = redis_hash("${prefix}down");
is($down->{long_url}, 'https://example.com/down', 'published once Redis is back');
is(scalar(grep { /^r:/ } keys %$down), 2, 'with both recipients');

# A malformed --redis is a usage error: nothing is stored.
$links_before = psql('SELECT count(*) FROM links');
($rc, $o, $err) = lr('link', 'create', '--redis', 'nonsense', '--company', 'acme',
                     '--long-url', 'https://example.com/bad-redis');
is($rc, 64, 'malformed --redis: 64');
like($err, qr/^linkreport: link create: LINKREPORT_REDIS\/--redis must be host:port/, 'says why');
# PostgreSQL down: nothing stored, nothing published.
($rc, $o, $err) = lr('link', 'create', '--db', 'postgresql://postgres@127.0.0.1:1/nodb', '--company', 'acme',
                     '--long-url', 'https://example.com/no-pg', '--slug', 'nopg');
is($rc, 69, 'PostgreSQL unreachable: 69');
like($err, qr/^linkreport: link create: cannot connect to PostgreSQL/, 'says so');
is(psql('SELECT count(*) FROM links'), $links_before, 'neither refusal stored a link');
is(redis('EXISTS', "${prefix}nopg"), '0', 'nor published one');

# --- link publish --all: Redis lost its data (only this file's keys are removed: the
# server is shared). Every hash comes back exactly as link create wrote it.
sub flush_prefix {
    my $keys = redis('--scan', '--pattern', "$prefix*");
    redis('DEL', $_) for grep { length } split /\n/, $keys;
}
# Every hash under the prefix, as "code|field=value|..." lines, sorted (one round trip).
my $dump_lua = <<'LUA';
local out = {}
for _, key in ipairs(redis.call('KEYS', ARGV[1] .. '*')) do
  local h = redis.call('HGETALL', key)
  local f = {}
  for i = 1, #h, 2 do f[#f + 1] = h[i] .. '=' .. h[i + 1] end
  table.sort(f)
  out[#out + 1] = string.sub(key, #ARGV[1] + 1) .. '|' .. table.concat(f, '|')
end
table.sort(out)
return table.concat(out, '\n')
LUA
sub dump_hashes { return redis('EVAL', $dump_lua, '0', $prefix) }

my $n_links = psql('SELECT count(*) FROM links');
my $created = dump_hashes();
is(scalar(split /\n/, $created), $n_links, "one hash per stored link ($n_links)");
flush_prefix();
redis('HSET', "${prefix}QS6", 'r:stale', "1\t2");
is(dump_hashes(), "QS6|r:stale=1\t2", 'Redis lost the links (one stale leftover)');
$out = lr_ok('link', 'publish', '--all');
is($out, "published: $n_links links\n", 'publish --all prints the count');
is(dump_hashes(), $created, 'every hash identical to what link create wrote, stale field gone');
$out = lr_ok('link', 'publish', '--all');
is($out, "published: $n_links links\n", 'again: same count');
is(dump_hashes(), $created, 'idempotent: same hashes');

# --company: that company's links only.
lr_ok('company', 'create', '--id', 'beta', '--name', 'Beta', '--timezone', 'Europe/Berlin',
      '--owner-email', 'o@beta.example');
lr_ok('link', 'create', '--company', 'beta', '--long-url', 'https://beta.example/', '--slug', 'betalink');
flush_prefix();
$out = lr_ok('link', 'publish', '--all', '--company', 'beta');
is($out, "published: 1 links\n", 'publish --all --company beta: one link');
is(dump_hashes() =~ tr/\n//, 0, 'only that one hash');
is(redis('HGET', "${prefix}betalink", 'company_id'), 'beta', "and it is beta's");
$out = lr_ok('link', 'publish', '--all', '--company', 'acme');
is($out, "published: $n_links links\n", "acme's links");
$n_links++;
$created = dump_hashes();
is(scalar(split /\n/, $created), $n_links, 'both companies published');

# Many links (more than one batch of 1000, recipients in several): written in SQL, so the
# expected hashes come from PostgreSQL's rows.
psql(q{INSERT INTO links (code, company_id, long_url, short_url, campaign_name, template_id, channel, message_id, track_user)
       SELECT 'bulk' || i, 'beta', 'https://beta.example/p?i=' || i, 'http://klr.bz/bulk' || i, 'c' || (i % 7),
              't' || (i % 3), 'SMS', 'm' || i, i % 250 = 0 FROM generate_series(1, 2600) i});
psql(q{INSERT INTO link_recipients (txtly_id, token, mobile_number, message_id)
       SELECT txtly_id, 'tk' || k, '4915' || txtly_id || k, 'rm' || k FROM links, generate_series(1, 3) k
       WHERE track_user AND code LIKE 'bulk%'});
my %recipients;
push @{$recipients{$_->[0]}}, "r:$_->[1]=$_->[2]\t$_->[3]"
    for @{psql_rows('SELECT l.code, token, mobile_number, r.message_id FROM link_recipients r JOIN links l USING (txtly_id)')};
my @expected;
for my $l (@{psql_rows(q{SELECT code, long_url, short_url, txtly_id, company_id, campaign_name, template_id, channel,
                                message_id, floor(extract(epoch FROM created_on))::bigint, track_user::int FROM links})}) {
    my %f;
    @f{qw(long_url short_url txtly_id company_id campaign_name template_id channel message_id created_on track_user)} = @$l[1 .. 10];
    push @expected, join '|', $l->[0], sort((map { "$_=$f{$_}" } keys %f), @{$recipients{$l->[0]} // []});
}
my $expected = join "\n", sort @expected;
$n_links += 2600;
flush_prefix();
$out = lr_ok('link', 'publish', '--all');
is($out, "published: $n_links links\n", "publish --all: $n_links links in 3 batches");
my $bulk = dump_hashes();
is(scalar(split /\n/, $bulk), $n_links, 'one hash each');
ok($bulk eq $expected, 'every hash holds exactly the stored link and its recipients');
like($bulk, qr/^bulk2500\|.*r:tk3=49152\d+3\trm3/m, 'recipients of a link in the third batch');

# Usage.
for my $case ([['--all', '--code', 'QS6'], 64, qr/--code and --all exclude each other/],
              [['--company', 'acme'], 64, qr/--company goes with --all/],
              [[], 64, qr/--code or --all is required/],
              [['--all', '--company', 'nobody'], 65, qr/unknown company 'nobody'/],
              [['--all', '--company', 'no body'], 65, qr/unknown company/],
              [['--all', '--all'], 64, qr/option --all given twice/]) {
    my ($args, $want_rc, $re) = @$case;
    ($rc, $o, $err) = lr('link', 'publish', @$args);
    is($rc, $want_rc, "link publish @$args: exit $want_rc");
    like($err, qr/^linkreport: link publish: $re/, "link publish @$args: message");
}
($rc, $o, $err) = lr('link', 'publish', '--all', '--redis', '127.0.0.1:1');
is($rc, 69, 'publish --all with Redis unreachable: 69');
like($err, qr/^linkreport: link publish: cannot connect to Redis/, 'says so');

done_testing();
