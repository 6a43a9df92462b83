#!/usr/bin/env python3
"""A DNS server for the tests, on loopback UDP: every name ending in ".test" is
127.0.0.1 (A), every other name does not exist (NXDOMAIN).

usage: dns_stub.py PORT
"""
import socket
import struct
import sys


def answer(query):
    ident, flags, qdcount = struct.unpack("!HHH", query[:6])
    pos, labels = 12, []
    while query[pos]:
        n = query[pos]
        labels.append(query[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    question = query[12:pos + 5]
    qtype = struct.unpack("!H", query[pos + 1:pos + 3])[0]
    name = ".".join(labels).lower()
    known = name.endswith(".test")
    rcode = 0 if known else 3
    ancount = 1 if known and qtype == 1 else 0
    header = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, ancount, 0, 0)
    body = question
    if ancount:
        body += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
    return header + body


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", int(sys.argv[1])))
    while True:
        data, peer = sock.recvfrom(512)
        try:
            sock.sendto(answer(data), peer)
        except (IndexError, struct.error):
            continue


if __name__ == "__main__":
    main()
