# Click enrichment: client IP through realip, GeoIP country and city for the addresses
# of ../shared/testdata/maxmind/PROVENANCE.md, user-agent classification (all five
# derived fields for each agent), and the non_human verdict (bots, link previews, HEAD,
# prefetch). Expected values follow the rules in the README ("User agents").
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

=== TEST 8: GeoIP: reserved documentation address: no country (192.0.2.1)
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: 192.0.2.1
--- error_code: 302
--- click eval
{ client_ip => '192.0.2.1', country => '', city => "" }

=== TEST 9: a spoofed left-most X-Forwarded-For value is ignored
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

=== TEST 10: X-Forwarded-For from an untrusted peer is ignored
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

=== TEST 11: an address with a port in X-Forwarded-For
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: 81.2.69.160:4444
--- error_code: 302
--- click eval
{ client_ip => '81.2.69.160', country => 'United Kingdom' }

=== TEST 12: an IPv6 address with a port in X-Forwarded-For
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: [2001:278::1]:443
--- error_code: 302
--- click eval
{ client_ip => '2001:278::1', country => 'Japan' }

=== TEST 13: languages: country and city names in German
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip . 'linkreport_geoip_language de;'
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: 81.2.69.160
--- error_code: 302
--- click eval
{ country => "Vereinigtes K\x{f6}nigreich", city => 'London' }

=== TEST 14: user agent: Chrome on Android phone
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36
--- error_code: 302
--- click eval
{ browser => 'Chrome', platform => 'AndroidOS', platform_version => '14', engine => 'Blink', device_type => 'Phone',
  non_human => '', user_agent => 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36' }

=== TEST 15: user agent: Chrome on Android (reduced UA)
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
  non_human => '', user_agent => 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36' }

=== TEST 16: user agent: Chrome on Android tablet
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
--- error_code: 302
--- click eval
{ browser => 'Chrome', platform => 'AndroidOS', platform_version => '13', engine => 'Blink', device_type => 'Tablet',
  non_human => '', user_agent => 'Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' }

=== TEST 17: user agent: Samsung Internet on Android
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36
--- error_code: 302
--- click eval
{ browser => 'Samsung Internet', platform => 'AndroidOS', platform_version => '14', engine => 'Blink', device_type => 'Phone',
  non_human => '', user_agent => 'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36' }

=== TEST 18: user agent: Firefox on Android
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0
--- error_code: 302
--- click eval
{ browser => 'Firefox', platform => 'AndroidOS', platform_version => '14', engine => 'Gecko', device_type => 'Phone',
  non_human => '', user_agent => 'Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0' }

=== TEST 19: user agent: Edge on Android
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.2903.87
--- error_code: 302
--- click eval
{ browser => 'Edge', platform => 'AndroidOS', platform_version => '14', engine => 'Blink', device_type => 'Phone',
  non_human => '', user_agent => 'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.2903.87' }

=== TEST 20: user agent: Safari on iPhone
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1
--- error_code: 302
--- click eval
{ browser => 'Safari', platform => 'iOS', platform_version => '18', engine => 'WebKit', device_type => 'Phone',
  non_human => '', user_agent => 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1' }

=== TEST 21: user agent: Chrome on iPhone is WebKit
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.103 Mobile/15E148 Safari/604.1
--- error_code: 302
--- click eval
{ browser => 'Chrome', platform => 'iOS', platform_version => '18', engine => 'WebKit', device_type => 'Phone',
  non_human => '', user_agent => 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.103 Mobile/15E148 Safari/604.1' }

=== TEST 22: user agent: Firefox on iPhone is WebKit
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15
--- error_code: 302
--- click eval
{ browser => 'Firefox', platform => 'iOS', platform_version => '18', engine => 'WebKit', device_type => 'Phone',
  non_human => '', user_agent => 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15' }

=== TEST 23: user agent: Safari on iPad (iPadOS mobile UA)
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1
--- error_code: 302
--- click eval
{ browser => 'Safari', platform => 'iOS', platform_version => '17', engine => 'WebKit', device_type => 'Tablet',
  non_human => '', user_agent => 'Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1' }

=== TEST 24: user agent: Safari on iPadOS desktop-class UA
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15
--- error_code: 302
--- click eval
{ browser => 'Safari', platform => 'OS X', platform_version => '10', engine => 'WebKit', device_type => 'Desktop',
  non_human => '', user_agent => 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15' }

=== TEST 25: user agent: Chrome on Windows
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
--- error_code: 302
--- click eval
{ browser => 'Chrome', platform => 'Windows', platform_version => '10', engine => 'Blink', device_type => 'Desktop',
  non_human => '', user_agent => 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' }

=== TEST 26: user agent: Edge on Windows
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86
--- error_code: 302
--- click eval
{ browser => 'Edge', platform => 'Windows', platform_version => '10', engine => 'Blink', device_type => 'Desktop',
  non_human => '', user_agent => 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86' }

=== TEST 27: user agent: Firefox on Windows
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0
--- error_code: 302
--- click eval
{ browser => 'Firefox', platform => 'Windows', platform_version => '10', engine => 'Gecko', device_type => 'Desktop',
  non_human => '', user_agent => 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0' }

=== TEST 28: user agent: Chrome on macOS
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
--- error_code: 302
--- click eval
{ browser => 'Chrome', platform => 'OS X', platform_version => '10', engine => 'Blink', device_type => 'Desktop',
  non_human => '', user_agent => 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' }

=== TEST 29: user agent: Firefox on macOS
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0
--- error_code: 302
--- click eval
{ browser => 'Firefox', platform => 'OS X', platform_version => '14', engine => 'Gecko', device_type => 'Desktop',
  non_human => '', user_agent => 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0' }

=== TEST 30: user agent: Firefox on Linux
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0
--- error_code: 302
--- click eval
{ browser => 'Firefox', platform => 'Linux', platform_version => '', engine => 'Gecko', device_type => 'Desktop',
  non_human => '', user_agent => 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0' }

=== TEST 31: user agent: Chrome on ChromeOS
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
--- error_code: 302
--- click eval
{ browser => 'Chrome', platform => 'ChromeOS', platform_version => '14541', engine => 'Blink', device_type => 'Desktop',
  non_human => '', user_agent => 'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' }

=== TEST 32: user agent: Internet Explorer is Trident
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
  non_human => '', user_agent => 'Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)' }

=== TEST 33: user agent: legacy Edge is EdgeHTML
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
  non_human => '', user_agent => 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19582' }

=== TEST 34: user agent: Opera 12 is Presto
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Opera/9.80 (Windows NT 6.1; U; en) Presto/2.10.289 Version/12.00
--- error_code: 302
--- click eval
{ browser => 'Opera', platform => 'Windows', platform_version => '7', engine => 'Presto', device_type => 'Desktop',
  non_human => '', user_agent => 'Opera/9.80 (Windows NT 6.1; U; en) Presto/2.10.289 Version/12.00' }

=== TEST 35: user agent: Chrome before Blink is WebKit
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
  non_human => '', user_agent => 'Mozilla/5.0 (Linux; Android 4.1.1; Nexus 7 Build/JRO03D) AppleWebKit/535.19 (KHTML, like Gecko) Chrome/18.0.1025.166 Safari/535.19' }

=== TEST 36: user agent: Instagram in-app browser on iPhone
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
  non_human => '', user_agent => 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 307.0.0.34.111 (iPhone15,3; iOS 17_1; en_US; en; scale=3.00; 1290x2796; 532277184)' }

=== TEST 37: user agent: Instagram in-app browser on Android
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.135 Mobile Safari/537.36 Instagram 358.0.0.51.97 Android (34/14; 480dpi; 1080x2340; samsung; SM-S918B; dm3q; qcom; en_US; 668589876)
--- error_code: 302
--- click eval
{ browser => 'Instagram', platform => 'AndroidOS', platform_version => '14', engine => 'Blink', device_type => 'Phone',
  non_human => '', user_agent => 'Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.135 Mobile Safari/537.36 Instagram 358.0.0.51.97 Android (34/14; 480dpi; 1080x2340; samsung; SM-S918B; dm3q; qcom; en_US; 668589876)' }

=== TEST 38: user agent: Facebook in-app browser on Android
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
  non_human => '', user_agent => 'Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/443.0.0.31.110;]' }

=== TEST 39: user agent: Facebook in-app browser on iPhone
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.41.106;FBBV/626337624;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]
--- error_code: 302
--- click eval
{ browser => 'Facebook', platform => 'iOS', platform_version => '17', engine => 'WebKit', device_type => 'Phone',
  non_human => '', user_agent => 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.41.106;FBBV/626337624;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]' }

=== TEST 40: user agent: Smart TV
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
  non_human => '', user_agent => 'Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36' }

=== TEST 41: user agent: WhatsApp link preview
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
  non_human => 'preview', user_agent => 'WhatsApp/2.23.20.0 A' }

=== TEST 42: user agent: Telegram link preview
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: TelegramBot (like TwitterBot)
--- error_code: 302
--- click eval
{ browser => 'TelegramBot', platform => '', platform_version => '', engine => '', device_type => 'Bot',
  non_human => 'preview', user_agent => 'TelegramBot (like TwitterBot)' }

=== TEST 43: user agent: Slack link preview
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
  non_human => 'preview', user_agent => 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)' }

=== TEST 44: user agent: Facebook link preview
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)
--- error_code: 302
--- click eval
{ browser => 'FacebookBot', platform => '', platform_version => '', engine => '', device_type => 'Bot',
  non_human => 'preview', user_agent => 'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)' }

=== TEST 45: user agent: iMessage link preview posing as Safari
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0
--- error_code: 302
--- click eval
{ browser => 'FacebookBot', platform => 'OS X', platform_version => '10', engine => 'WebKit', device_type => 'Bot',
  non_human => 'preview', user_agent => 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0' }

=== TEST 46: user agent: X (Twitter) link preview
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Twitterbot/1.0
--- error_code: 302
--- click eval
{ browser => 'Twitterbot', platform => '', platform_version => '', engine => '', device_type => 'Bot',
  non_human => 'preview', user_agent => 'Twitterbot/1.0' }

=== TEST 47: user agent: Discord link preview
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10.10; rv:38.0) Gecko/20100101 Firefox/38.0 (compatible; Discordbot/2.0; +https://discordapp.com)
--- error_code: 302
--- click eval
{ browser => 'Discordbot', platform => 'OS X', platform_version => '10', engine => 'Gecko', device_type => 'Bot',
  non_human => 'preview', user_agent => 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.10; rv:38.0) Gecko/20100101 Firefox/38.0 (compatible; Discordbot/2.0; +https://discordapp.com)' }

=== TEST 48: user agent: Googlebot
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
  non_human => 'bot', user_agent => 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' }

=== TEST 49: user agent: Googlebot smartphone with a Chrome signature
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.139 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)
--- error_code: 302
--- click eval
{ browser => 'Googlebot', platform => 'AndroidOS', platform_version => '6', engine => 'Blink', device_type => 'Bot',
  non_human => 'bot', user_agent => 'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.139 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' }

=== TEST 50: user agent: bingbot
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)
--- error_code: 302
--- click eval
{ browser => 'bingbot', platform => '', platform_version => '', engine => '', device_type => 'Bot',
  non_human => 'bot', user_agent => 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)' }

=== TEST 51: user agent: curl
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: curl/8.5.0
--- error_code: 302
--- click eval
{ browser => 'curl', platform => '', platform_version => '', engine => '', device_type => 'Other',
  non_human => '', user_agent => 'curl/8.5.0' }

=== TEST 52: user agent: Xbox console
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/48.0.2564.82 Safari/537.36 Edge/13.10586
--- error_code: 302
--- click eval
{ browser => 'Edge', platform => 'Windows', platform_version => '10', engine => 'EdgeHTML', device_type => 'Console',
  non_human => '', user_agent => 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/48.0.2564.82 Safari/537.36 Edge/13.10586' }

=== TEST 53: no User-Agent header at all
--- links eval
{ geo => $main::Link }
--- config
    location / { linkreport; }
--- raw_request eval
"GET /geo HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- error_code: 302
--- click eval
{ user_agent => '', browser => '', platform => '', platform_version => '', engine => '', device_type => 'Other', non_human => '' }

=== TEST 54: an empty User-Agent header
--- links eval
{ geo => $main::Link }
--- config
    location / { linkreport; }
--- raw_request eval
"GET /geo HTTP/1.0\r\nHost: localhost\r\nUser-Agent: \r\n\r\n"
--- error_code: 302
--- click eval
{ user_agent => '', browser => '', platform => '', engine => '', device_type => 'Other', non_human => '' }

=== TEST 55: a 16 KB user agent is classified and stored truncated to 2048 bytes
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

=== TEST 56: Chrome speculation-rules prefetch is recorded as prefetch, and still redirected
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36
Sec-Purpose: prefetch
--- error_code: 302
--- click eval
{ non_human => 'prefetch', browser => 'Chrome', device_type => 'Phone' }

=== TEST 57: Chrome prerender is recorded as prefetch, and still redirected
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36
Sec-Purpose: prefetch;prerender
--- error_code: 302
--- click eval
{ non_human => 'prefetch', browser => 'Chrome', device_type => 'Phone' }

=== TEST 58: legacy Purpose: prefetch is recorded as prefetch, and still redirected
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36
Purpose: prefetch
--- error_code: 302
--- click eval
{ non_human => 'prefetch', browser => 'Chrome', device_type => 'Phone' }

=== TEST 59: Firefox prefetch is recorded as prefetch, and still redirected
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36
X-Moz: prefetch
--- error_code: 302
--- click eval
{ non_human => 'prefetch', browser => 'Chrome', device_type => 'Phone' }

=== TEST 60: Safari preview is recorded as prefetch, and still redirected
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36
X-Purpose: preview
--- error_code: 302
--- click eval
{ non_human => 'prefetch', browser => 'Chrome', device_type => 'Phone' }

=== TEST 61: HEAD from a browser is recorded as head, not as a person
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
HEAD /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36
--- error_code: 302
--- click eval
{ non_human => 'head', method => 'HEAD', browser => 'Chrome' }

=== TEST 62: a bot's HEAD keeps the bot reason
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
HEAD /geo
--- more_headers
User-Agent: Twitterbot/1.0
--- error_code: 302
--- click eval
{ non_human => 'preview', method => 'HEAD', device_type => 'Bot' }

=== TEST 63: an ordinary tap is a person's
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
User-Agent: Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36
Sec-Fetch-Mode: navigate
--- error_code: 302
--- click eval
{ non_human => '' }

=== TEST 64: GeoIP answers cached per /24 only where the database's network is a /24 or larger
An address in a /25 the database does not know (81.2.69.1) must not hide London's /31
(81.2.69.142) in the same /24, nor the other way round; in a /24 network (67.43.156.0/24)
a second address gets the first one's answer; each answer is the same when asked again.
--- links eval
{ geo => $main::Link }
--- http_config eval
$main::Realip
--- config
    location / { linkreport; }
--- request
GET /geo
--- more_headers
X-Forwarded-For: 81.2.69.1
--- between eval
[q{
    my @ips = qw(81.2.69.142 81.2.69.1 81.2.69.142 67.43.156.1 67.43.156.200 67.43.156.1
                 89.160.20.115 89.160.20.1 89.160.20.115 2.125.160.216 2.125.160.1);
    Test::More::is(pipelined_taps(map { ['/geo', "X-Forwarded-For: $_"] } @ips), scalar(@ips),
                   'every tap redirected');
    my @got = wait_records($block->{linkreport_stream}, @ips + 1);
    my $utf = sub { my $s = shift; utf8::encode($s); $s };
    Test::More::is_deeply([map { "$_->{client_ip} $_->{country}/$_->{city}" } @got],
        [map { $utf->($_) } '81.2.69.1 /', '81.2.69.142 United Kingdom/London', '81.2.69.1 /',
         '81.2.69.142 United Kingdom/London', '67.43.156.1 Bhutan/', '67.43.156.200 Bhutan/',
         '67.43.156.1 Bhutan/', "89.160.20.115 Sweden/Link\x{f6}ping", '89.160.20.1 /',
         "89.160.20.115 Sweden/Link\x{f6}ping", '2.125.160.216 United Kingdom/Boxford', '2.125.160.1 /'],
        'each address its own network\'s answer, in the order tapped');
}]
--- error_code: 302
