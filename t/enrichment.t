# Click enrichment: client IP through realip, GeoIP country and city for the addresses
# of ../shared/testdata/maxmind/PROVENANCE.md, and user-agent classification.
use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use LinkReport::Test;

repeat_each(1);
no_shuffle();

our $Link = { long_url => 'https://example.com/', short_url => 'http://klr.bz/geo',
              txtly_id => '1', company_id => 'c1', created_on => '1700000000' };

our $Realip = <<'_EOC_';
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    real_ip_recursive on;
_EOC_

run_tests();

__DATA__

=== TEST 1: GeoIP: IPv4 address in London (81.2.69.160)
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: 81.2.69.160
--- error_code: 302
--- click eval
{ client_ip => '81.2.69.160', country => 'United Kingdom', city => "London" }

=== TEST 2: GeoIP: IPv4-mapped IPv6 address (::ffff:81.2.69.160)
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: ::ffff:81.2.69.160
--- error_code: 302
--- click eval
{ client_ip => '::ffff:81.2.69.160', country => 'United Kingdom', city => "London" }

=== TEST 3: GeoIP: non-ASCII city name kept as UTF-8 (89.160.20.115)
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: 89.160.20.115
--- error_code: 302
--- click eval
{ client_ip => '89.160.20.115', country => 'Sweden', city => "Link\x{f6}ping" }

=== TEST 4: GeoIP: country without city (67.43.156.1)
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: 67.43.156.1
--- error_code: 302
--- click eval
{ client_ip => '67.43.156.1', country => 'Bhutan', city => "" }

=== TEST 5: GeoIP: IPv6 address (2001:278::1)
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: 2001:278::1
--- error_code: 302
--- click eval
{ client_ip => '2001:278::1', country => 'Japan', city => "" }

=== TEST 6: GeoIP: private address: no country, never a wrong one (10.0.0.1)
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: 10.0.0.1
--- error_code: 302
--- click eval
{ client_ip => '10.0.0.1', country => '', city => "" }

=== TEST 7: GeoIP: loopback address: no country (127.0.0.1)
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: 127.0.0.1
--- error_code: 302
--- click eval
{ client_ip => '127.0.0.1', country => '', city => "" }

=== TEST 8: a spoofed left-most X-Forwarded-For value is ignored
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: 81.2.69.160, 89.160.20.115
--- error_code: 302
--- click eval
{ client_ip => '89.160.20.115', country => 'Sweden' }

=== TEST 9: X-Forwarded-For from an untrusted peer is ignored
--- links eval
{ geo => $main::Link }
--- http_config
    set_real_ip_from 10.0.0.0/8;
    real_ip_header X-Forwarded-For;
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: 81.2.69.160
--- error_code: 302
--- click eval
{ client_ip => '127.0.0.1', country => '' }

=== TEST 10: user agent: Chrome on Android phone
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36
--- error_code: 302
--- click eval
{ browser => 'Chrome', platform => 'AndroidOS', platform_version => '10', engine => 'Blink', device_type => 'Phone',
  user_agent => 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36' }

=== TEST 11: user agent: Safari on iPhone
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1
--- error_code: 302
--- click eval
{ browser => 'Safari', platform => 'iOS', platform_version => '17', engine => 'WebKit', device_type => 'Phone',
  user_agent => 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1' }

=== TEST 12: user agent: Chrome on iPad is WebKit
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1
--- error_code: 302
--- click eval
{ browser => 'Chrome', platform => 'iOS', platform_version => '16', engine => 'WebKit', device_type => 'Tablet',
  user_agent => 'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1' }

=== TEST 13: user agent: Samsung Internet on Android
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36
--- error_code: 302
--- click eval
{ browser => 'Samsung Internet', platform => 'AndroidOS', platform_version => '14', engine => 'Blink', device_type => 'Phone',
  user_agent => 'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36' }

=== TEST 14: user agent: Android tablet without Mobile
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36
--- error_code: 302
--- click eval
{ browser => 'Chrome', platform => 'AndroidOS', platform_version => '13', engine => 'Blink', device_type => 'Tablet',
  user_agent => 'Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36' }

=== TEST 15: user agent: Edge on Windows
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0
--- error_code: 302
--- click eval
{ browser => 'Edge', platform => 'Windows', platform_version => '10', engine => 'Blink', device_type => 'Desktop',
  user_agent => 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0' }

=== TEST 16: user agent: legacy Edge is EdgeHTML
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19582
--- error_code: 302
--- click eval
{ browser => 'Edge', platform => 'Windows', platform_version => '10', engine => 'EdgeHTML', device_type => 'Desktop',
  user_agent => 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19582' }

=== TEST 17: user agent: Firefox on Linux
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0
--- error_code: 302
--- click eval
{ browser => 'Firefox', platform => 'Linux', platform_version => '', engine => 'Gecko', device_type => 'Desktop',
  user_agent => 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0' }

=== TEST 18: user agent: Safari on macOS
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15
--- error_code: 302
--- click eval
{ browser => 'Safari', platform => 'OS X', platform_version => '10', engine => 'WebKit', device_type => 'Desktop',
  user_agent => 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15' }

=== TEST 19: user agent: Internet Explorer is Trident
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)
--- error_code: 302
--- click eval
{ browser => 'IE', platform => 'Windows', platform_version => '7', engine => 'Trident', device_type => 'Desktop',
  user_agent => 'Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)' }

=== TEST 20: user agent: old Chrome before Blink is WebKit
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 4.1.1; Nexus 7 Build/JRO03D) AppleWebKit/535.19 (KHTML, like Gecko) Chrome/18.0.1025.166 Safari/535.19
--- error_code: 302
--- click eval
{ browser => 'Chrome', platform => 'AndroidOS', platform_version => '4', engine => 'WebKit', device_type => 'Tablet',
  user_agent => 'Mozilla/5.0 (Linux; Android 4.1.1; Nexus 7 Build/JRO03D) AppleWebKit/535.19 (KHTML, like Gecko) Chrome/18.0.1025.166 Safari/535.19' }

=== TEST 21: user agent: Instagram in-app browser on iPhone
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 307.0.0.34.111 (iPhone15,3; iOS 17_1; en_US; en; scale=3.00; 1290x2796; 532277184)
--- error_code: 302
--- click eval
{ browser => 'Instagram', platform => 'iOS', platform_version => '17', engine => 'WebKit', device_type => 'Phone',
  user_agent => 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 307.0.0.34.111 (iPhone15,3; iOS 17_1; en_US; en; scale=3.00; 1290x2796; 532277184)' }

=== TEST 22: user agent: Facebook in-app browser on Android
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/443.0.0.31.110;]
--- error_code: 302
--- click eval
{ browser => 'Facebook', platform => 'AndroidOS', platform_version => '13', engine => 'Blink', device_type => 'Phone',
  user_agent => 'Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/443.0.0.31.110;]' }

=== TEST 23: user agent: Smart TV
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36
--- error_code: 302
--- click eval
{ browser => 'Samsung Internet', platform => 'Tizen', platform_version => '6', engine => 'Blink', device_type => 'TV',
  user_agent => 'Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36' }

=== TEST 24: user agent: Googlebot is a Bot
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)
--- error_code: 302
--- click eval
{ browser => 'Googlebot', platform => '', platform_version => '', engine => '', device_type => 'Bot',
  user_agent => 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' }

=== TEST 25: user agent: WhatsApp link preview is a Bot
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: WhatsApp/2.23.20.0 A
--- error_code: 302
--- click eval
{ browser => 'WhatsApp', platform => '', platform_version => '', engine => '', device_type => 'Bot',
  user_agent => 'WhatsApp/2.23.20.0 A' }

=== TEST 26: user agent: Slack link preview is a Bot
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)
--- error_code: 302
--- click eval
{ browser => 'Slackbot-LinkExpanding', platform => '', platform_version => '', engine => '', device_type => 'Bot',
  user_agent => 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)' }

=== TEST 27: user agent: curl
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: curl/7.88.1
--- error_code: 302
--- click eval
{ browser => 'curl', platform => '', platform_version => '', engine => '', device_type => 'Other',
  user_agent => 'curl/7.88.1' }

=== TEST 28: no User-Agent header at all
--- links eval
{ geo => $main::Link }
--- config
    location / { linkreport; }
--- raw_request eval
"GET /geo HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- error_code: 302
--- click eval
{ user_agent => '', browser => '', platform => '', engine => '', device_type => 'Other' }

=== TEST 29: a 16 KB user agent is classified and stored truncated to 2048 bytes
--- links eval
{ geo => $main::Link }
--- config
    location / { linkreport; }
--- http_config
    large_client_header_buffers 4 32k;
--- more_headers eval
"User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) " . ("A" x 16000)
--- request
GET /geo
--- error_code: 302
--- click eval
{ user_agent => qr/^Mozilla\/5\.0 \(iPhone; CPU iPhone OS 17_4 like Mac OS X\) A{1993}$/, platform => 'iOS', device_type => 'Phone' }
