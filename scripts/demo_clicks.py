#!/usr/bin/env python3
"""Taps short links like real recipients would, for `make demo`.

Each tap is one GET on a keep-alive connection to the edge, with a real user agent from
uap-core's test corpus and a real public address sent as X-Forwarded-For (the edge
trusts the loopback proxy). Addresses are drawn with a fixed seed and kept only when the
GeoIP database knows their city, so the report shows real places.

usage: demo_clicks.py EDGE_HOST:PORT GEOIP_DB COUNT URL...
"""
import http.client
import random
import re
import subprocess
import sys
import urllib.parse

UA_CORPUS = "/usr/share/uap-core/tests/test_ua.yaml"


# what people mostly tap with; the corpus also holds hundreds of rare clients
COMMON_FAMILIES = {
    "Chrome", "Chrome Mobile", "Chrome Mobile iOS", "Chrome Mobile WebView", "Safari",
    "Mobile Safari", "Mobile Safari UI/WKWebView", "Firefox", "Firefox Mobile", "Edge",
    "Samsung Internet", "Facebook", "Instagram", "Opera", "Opera Mini", "UC Browser",
}


def user_agents(limit):
    """Common browsers' user agents from the corpus, decoded from YAML's quoting."""
    agents = []
    ua_line = re.compile(r"^\s*- user_agent_string:\s*(['\"])(.*)\1\s*$")
    family_line = re.compile(r"^\s*family:\s*(['\"])(.*)\1\s*$")
    ua = None
    with open(UA_CORPUS, encoding="utf-8") as corpus:
        for line in corpus:
            m = ua_line.match(line)
            if m:
                ua = m.group(2).replace("''", "'") if m.group(1) == "'" else m.group(2)
                continue
            m = family_line.match(line)
            if m and ua is not None:
                if m.group(2) in COMMON_FAMILIES and ua.isascii() and ua not in agents:
                    agents.append(ua)
                ua = None
    rng = random.Random(7)
    rng.shuffle(agents)
    return agents[:limit]


def city_of(db, ip):
    out = subprocess.run(["mmdblookup", "--file", db, "--ip", ip, "city", "names", "en"],
                         capture_output=True, text=True, check=False).stdout
    return re.search(r'"([^"]+)"', out).group(1) if '"' in out else None


def public_addresses(db, want):
    rng = random.Random(42)
    found = []
    while len(found) < want:
        first = rng.choice([2, 5, 24, 31, 37, 41, 49, 59, 62, 77, 81, 85, 89, 92, 103,
                            106, 110, 117, 122, 151, 175, 177, 182, 186, 190, 196, 200, 203])
        ip = f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if city_of(db, ip):
            found.append(ip)
    return found


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 64
    edge, db, count, urls = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    agents = user_agents(count)
    addresses = public_addresses(db, 60)
    host, port = edge.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    statuses = {}
    rng = random.Random(1)
    for i in range(count):
        path = urllib.parse.urlsplit(urls[i % len(urls)]).path
        conn.request("GET", path, headers={
            "User-Agent": agents[i % len(agents)],
            "X-Forwarded-For": rng.choice(addresses),
        })
        resp = conn.getresponse()
        resp.read()
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
    conn.close()
    print("demo: taps sent: " + ", ".join(f"{n} x HTTP {s}" for s, n in sorted(statuses.items())))
    return 0 if set(statuses) == {302} else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:   # Ctrl-C in make demo: the shell script cleans up
        sys.exit(130)
