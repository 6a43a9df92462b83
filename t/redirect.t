# The redirect: status, headers, 404/405/503 answers and the click record of each tap.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use LinkReport::Test;

repeat_each(1);
no_shuffle();

our $Link = {
    long_url => 'https://example.com/offer?x=1',
    short_url => 'http://klr.bz/QS6',
    txtly_id => '1234564',
    company_id => 'Zc01',
    campaign_name => 'DemoCampaign',
    template_id => '1107',
    channel => 'WA',
    message_id => 'link-msg',
    created_on => '1700000000',
    track_user => '1',
    'r:2rdK6' => "+919900000001\tmsg-0001",
    'r:noMsg' => "+919900000002\t",
};

run_tests();

__DATA__

=== TEST 1: GET /{code} redirects with 302, the long URL and no caching
--- links eval
{ QS6 => $main::Link }
--- config
    location / { linkreport; }
--- request
GET /QS6
--- error_code: 302
--- response_headers
Location: https://example.com/offer?x=1
Cache-Control: private, no-store
--- click eval
{ code => 'QS6', recipient => '', short_url => 'http://klr.bz/QS6',
  txtly_id => '1234564', company_id => 'Zc01', campaign_name => 'DemoCampaign',
  template_id => '1107', channel => 'WA', message_id => 'link-msg', mobile_number => '',
  created_on => '1700000000', long_url => 'https://example.com/offer?x=1',
  client_ip => '127.0.0.1', method => 'GET', click_id => qr/^[0-9a-f]{32}$/,
  visited_on => qr/^1[0-9]{12}$/ }
--- no_error_log
[error]



=== TEST 2: HEAD answers the same redirect without a body, and is recorded as HEAD
--- links eval
{ QS6 => $main::Link }
--- config
    location / { linkreport; }
--- request
HEAD /QS6
--- error_code: 302
--- response_headers
Location: https://example.com/offer?x=1
--- response_body
--- click eval
{ code => 'QS6', method => 'HEAD' }



=== TEST 3: a per-recipient link carries that recipient's mobile number and message id
--- links eval
{ QS6 => $main::Link }
--- config
    location / { linkreport; }
--- request
GET /QS6/2rdK6
--- error_code: 302
--- response_headers
Location: https://example.com/offer?x=1
--- click eval
{ code => 'QS6', recipient => '2rdK6', short_url => 'http://klr.bz/QS6/2rdK6',
  mobile_number => '+919900000001', message_id => 'msg-0001' }



=== TEST 4: a recipient without its own message id keeps the link's
--- links eval
{ QS6 => $main::Link }
--- config
    location / { linkreport; }
--- request
GET /QS6/noMsg
--- error_code: 302
--- click eval
{ mobile_number => '+919900000002', message_id => 'link-msg' }



=== TEST 5: an unknown code is 404 and records nothing
--- config
    location / { linkreport; }
--- request
GET /doesNotExist
--- error_code: 404
--- no_click
--- no_error_log
[error]



=== TEST 6: an unknown recipient of a known link is 404
--- links eval
{ QS6 => $main::Link }
--- config
    location / { linkreport; }
--- request
GET /QS6/unknownRecipient
--- error_code: 404
--- no_click



=== TEST 7: other methods get 405 with Allow
--- links eval
{ QS6 => $main::Link }
--- config
    location / { linkreport; }
--- request
POST /QS6
hello
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- no_click



=== TEST 8: malformed codes are 404 without asking Redis
--- config
    location / { linkreport; }
--- pipelined_requests eval
["GET /", "GET /a.b", "GET /a%20b", "GET /a/b/c", "GET /" . ("x" x 65), "GET /%0D%0ASet-Cookie:x=1", "GET /caf%C3%A9", "GET /caf%E9", "GET /a//", "GET /a%00b"]
--- error_code eval
[404, 404, 404, 404, 404, 404, 404, 404, 404, 400]
--- no_click



=== TEST 9: the code is what follows a prefix location
--- links eval
{ QS6 => $main::Link }
--- config
    location /l/ { linkreport; }
--- request
GET /l/QS6/2rdK6
--- error_code: 302
--- click eval
{ code => 'QS6', recipient => '2rdK6' }



=== TEST 10: a stored URL with CR LF cannot inject a header: bytes are percent-encoded
--- links eval
{ inj => { %$main::Link, long_url => "https://example.com/a\r\nSet-Cookie: evil=1 \xc3\xa9" } }
--- config
    location / { linkreport; }
--- request
GET /inj
--- error_code: 302
--- response_headers
Location: https://example.com/a%0D%0ASet-Cookie:%20evil=1%20%C3%A9
Set-Cookie:
--- click eval
{ code => 'inj' }



=== TEST 11: a stored URL that is not http(s) is refused at redirect time
--- links eval
{ js => { %$main::Link, long_url => "javascript:alert(1)" } }
--- config
    location / { linkreport; }
--- request
GET /js
--- error_code: 502
--- no_click
--- error_log
linkreport: link "js" has a long_url that is not http(s)



=== TEST 12: Redis unreachable: 503 at once, never a hang
--- http_config
    linkreport_redis 127.0.0.1:1;
--- config
    location / { linkreport; }
--- request
GET /QS6
--- error_code: 503
--- error_log
linkreport: redis is not connected, cannot resolve "QS6"



=== TEST 13: codes are case-sensitive
--- links eval
{ QS6 => $main::Link }
--- config
    location / { linkreport; }
--- request
GET /qs6
--- error_code: 404
--- no_click



=== TEST 14: a link key holding something else than a hash is bad data: 502, not 503
--- init
LinkReport::Test::redis_cmd('DEL', 'linkreport:link:str');
LinkReport::Test::redis_cmd('SET', 'linkreport:link:str', 'https://example.com/');
--- config
    location / { linkreport; }
--- request
GET /str
--- error_code: 502
--- no_click
--- error_log
linkreport: key of link "str" does not hold a hash



=== TEST 15: a stored long URL over 8 KB is refused at redirect time
--- links eval
{ big => { %$main::Link, long_url => "https://example.com/" . ("a" x 8200) } }
--- config
    location / { linkreport; }
--- request
GET /big
--- error_code: 502
--- no_click
--- error_log
linkreport: link "big" has a long_url of 8220 bytes, more than 8192



=== TEST 16: a user agent cut at 2048 bytes never splits a UTF-8 character
--- links eval
{ QS6 => $main::Link }
--- config
    location / { linkreport; }
--- more_headers eval
"User-Agent: " . ("a" x 2047) . "\xc3\xa9tail"
--- request
GET /QS6
--- error_code: 302
--- click eval
{ user_agent => qr/^a{2047}$/ }



=== TEST 17: a trailing slash is tolerated, a second one is not
--- links eval
{ QS6 => $main::Link }
--- config
    location / { linkreport; }
--- pipelined_requests eval
["GET /QS6/", "GET /QS6/2rdK6/", "GET /QS6/2rdK6/x"]
--- error_code eval
[302, 302, 404]



=== TEST 18: the tap's query string is forwarded when asked: "?" or "&", before the fragment, bytes unchanged
--- links eval
{ q1 => { %$main::Link, long_url => 'https://example.com/a' },
  q2 => { %$main::Link, long_url => 'https://example.com/a?x=1#top' } }
--- config
    location / { linkreport; linkreport_forward_query on; }
--- request eval
["GET /q1?utm_source=sms&n=%C3%A9", "GET /q2?utm_source=sms"]
--- error_code eval
[302, 302]
--- response_headers eval
["Location: https://example.com/a?utm_source=sms&n=%C3%A9",
 "Location: https://example.com/a?x=1&utm_source=sms#top"]



=== TEST 19: without forwarding, the query string is not passed on
--- links eval
{ q1 => { %$main::Link, long_url => 'https://example.com/a' } }
--- config
    location / { linkreport; }
--- request
GET /q1?utm_source=sms
--- error_code: 302
--- response_headers
Location: https://example.com/a



=== TEST 20: the redirect status can be 301, 307 or 308; caching stays off
--- links eval
{ QS6 => $main::Link }
--- config
    location /p/ { linkreport; linkreport_redirect_status 308; }
--- request
GET /p/QS6
--- error_code: 308
--- response_headers
Location: https://example.com/offer?x=1
Cache-Control: private, no-store



=== TEST 21: under a prefix without a trailing slash, the code still follows it
--- links eval
{ QS6 => $main::Link }
--- config
    location /l { linkreport; }
--- pipelined_requests eval
["GET /l/QS6", "GET /lQS6", "GET /l"]
--- error_code eval
[302, 404, 404]



=== TEST 22: values holding backslash, TAB, LF or CR reach the record unchanged, wherever the byte sits
--- links eval
{ esc => { %$main::Link,
  long_url => 'https://example.com/' . ('a' x 21) . '\\z',
  campaign_name => "Tab\there",
  channel => ('c' x 16) . "\r\n",
  message_id => ('m' x 40) . "\\",
  template_id => ('t' x 15) . "\t" . ('u' x 16) } }
--- config
    location / { linkreport; }
--- request
GET /esc
--- error_code: 302
--- click eval
{ code => 'esc', long_url => 'https://example.com/' . ('a' x 21) . '\\z',
  campaign_name => "Tab\there", channel => ('c' x 16) . "\r\n",
  message_id => ('m' x 40) . "\\", template_id => ('t' x 15) . "\t" . ('u' x 16) }



=== TEST 23: short values (1 to 15 bytes) with a byte to escape at each position, or none, reach the record unchanged
--- links eval
my %l;
my @special = ("\\", "\t", "\n", "\r", "\x01", "x");
for my $len (1 .. 15) {
    for my $pos (0 .. $len - 1) {
        my $v = CORE::join '', map { chr(ord('a') + $_) } 0 .. $len - 1;
        substr($v, $pos, 1) = $special[($len + $pos) % @special];
        $l{"e${len}x$pos"} = { %$main::Link, campaign_name => $v, channel => scalar CORE::reverse($v) };
    }
}
\%l
--- config
    location / { linkreport; }
--- request
GET /e1x0
--- between eval
[q{
    my @codes = map { my $len = $_; map { "e${len}x$_" } 0 .. $len - 1 } 1 .. 15;
    Test::More::is(pipelined_taps(map { ["/$_"] } @codes), scalar(@codes), 'every tap redirected');
    my @got = wait_records($block->{linkreport_stream}, @codes + 1);
    shift @got;   # the block's own request
    my $links = $block->links;
    Test::More::is_deeply([map { [$_->{_bad} // '', $_->{campaign_name}, $_->{channel}] } @got],
        [map { ['', $links->{$_}{campaign_name}, $links->{$_}{channel}] } @codes],
        'every record well-formed, every value as stored');
}]
--- error_code: 302
