#!/usr/bin/env python3
"""Engine and device-type agreement between our classifier and ua-parser-js.

usage: ua_compare.py AGENTS OURS THEIRS
  AGENTS  one user agent a line
  OURS    ua_classify's output for them (browser, platform, version, engine, device, ...)
  THEIRS  ua_parser_js.js's output for them (engine, device type)

ua-parser-js reports no device type for desktops nor for what it does not know, and has
no bot class, so: its empty type agrees with our Desktop and with our Other, and strings
we call Bot (crawlers and previews) are compared on engine only and counted apart.
"""
import collections
import sys

DEVICE = {"mobile": "Phone", "tablet": "Tablet", "smarttv": "TV", "console": "Console",
          "": "Desktop", "wearable": "Other", "embedded": "Other", "xr": "Other"}


def main():
    agents = open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n")[:-1]
    ours = [l.split("\t") for l in open(sys.argv[2], encoding="utf-8").read().split("\n")[:-1]]
    theirs = [l.split("\t") for l in open(sys.argv[3], encoding="utf-8").read().split("\n")[:-1]]
    assert len(agents) == len(ours) == len(theirs), (len(agents), len(ours), len(theirs))

    engine_ok = device_ok = device_n = bots = 0
    engine_diff, device_diff = collections.Counter(), collections.Counter()
    examples = {}
    for ua, o, t in zip(agents, ours, theirs):
        o_engine, o_device = o[3], o[4]
        t_engine, t_device = t[0], DEVICE.get(t[1], t[1])
        if t_engine == "Webkit":   # ua-parser-js spells it so for a few old agents
            t_engine = "WebKit"
        if o_engine == t_engine:
            engine_ok += 1
        else:
            engine_diff[(o_engine or "-", t_engine or "-")] += 1
            examples.setdefault(("engine", o_engine or "-", t_engine or "-"), ua)
        if o_device == "Bot":
            bots += 1
            continue
        device_n += 1
        if o_device == t_device or (t[1] == "" and o_device in ("Desktop", "Other")):
            device_ok += 1
        else:
            device_diff[(o_device, t_device)] += 1
            examples.setdefault(("device", o_device, t_device), ua)

    n = len(agents)
    print(f"engine vs ua-parser-js: {engine_ok}/{n} agree ({100.0 * engine_ok / n:.2f}%)")
    print(f"device type vs ua-parser-js: {device_ok}/{device_n} agree "
          f"({100.0 * device_ok / device_n:.2f}%; {bots} bots/previews compared on engine only)")
    for title, diff, kind in (("engine", engine_diff, "engine"), ("device type", device_diff, "device")):
        print(f"-- {title} differences (ours -> ua-parser-js: count, an example)")
        for (a, b), count in diff.most_common():
            print(f"   {a} -> {b}: {count}  e.g. {examples[(kind, a, b)][:150]}")


if __name__ == "__main__":
    main()
