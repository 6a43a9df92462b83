"""aiosmtpd handler for the tests: saves each message exactly as received (bytes, CRLF
kept) as NNNN.eml in a folder, with NNNN.json holding the envelope. While a file named
FAIL exists in the folder every message is refused with 451 (a temporary failure).
Run: PYTHONPATH=this/dir python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c lr_smtp_sink.Save DIR"""
import itertools
import json
import os


class Save:
    def __init__(self, folder):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.counter = itertools.count(1)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("lr_smtp_sink.Save needs the folder")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        if os.path.exists(os.path.join(self.folder, "FAIL")):
            return "451 4.3.0 try again later"
        n = next(self.counter)
        while os.path.exists(os.path.join(self.folder, "%04d.eml" % n)):
            n = next(self.counter)
        base = os.path.join(self.folder, "%04d" % n)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        os.rename(base + ".tmp", base + ".eml")
        return "250 OK"
