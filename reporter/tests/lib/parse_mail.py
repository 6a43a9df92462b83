"""Parses the messages saved by lr_smtp_sink back with Python's email package and prints
them as JSON (one list, in arrival order), with the checks the tests make on raw bytes."""
import base64
import email
import email.policy
import email.utils
import glob
import json
import os
import re
import sys

out = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.eml"))):
    raw = open(path, "rb").read()
    env = json.load(open(path[:-4] + ".json"))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    lines = raw.split(b"\r\n")
    head, _, _ = raw.partition(b"\r\n\r\n")
    m = {
        "file": os.path.basename(path),
        "mail_from": env["mail_from"],
        "rcpt_tos": env["rcpt_tos"],
        "crlf_only": b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b""),
        "max_line": max(len(l) for l in lines),
        "ascii_only": all(b < 128 for b in raw),
        "raw_subject": re.search(rb"^Subject:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.M).group(1).decode(),
        "subject": str(msg["Subject"]),
        "from": str(msg["From"]),
        "to": str(msg["To"]),
        "date": str(msg["Date"]),
        "date_ok": email.utils.parsedate_to_datetime(str(msg["Date"])) is not None,
        "message_id": str(msg["Message-ID"]),
        "mime_version": str(msg["MIME-Version"]),
        "content_type": msg.get_content_type(),
        "defects": [str(d) for p in msg.walk() for d in p.defects],
        "parts": [],
    }
    b64_lines = []
    for part in msg.walk():
        if part.is_multipart():
            m["parts"].append({"type": part.get_content_type()})
            continue
        payload = part.get_payload(decode=True)
        info = {
            "type": part.get_content_type(),
            "charset": part.get_content_charset(),
            "cte": part.get("Content-Transfer-Encoding", ""),
            "disposition": part.get_content_disposition(),
            "filename": part.get_filename(),
            "b64": base64.b64encode(payload).decode(),
        }
        if part.get_content_maintype() == "text" and not info["filename"]:
            info["text"] = payload.decode("utf-8")
        raw_body = part.get_payload(decode=False)
        b64_lines += [len(l) for l in raw_body.split("\r\n") if l] if isinstance(raw_body, str) else []
        m["parts"].append(info)
    m["b64_max_line"] = max(b64_lines) if b64_lines else 0
    out.append(m)
print(json.dumps(out))
