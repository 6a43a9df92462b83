"""aiosmtpd handler for the tests: saves each message exactly as received (bytes, CRLF
kept) as NNNN.eml in a folder, with NNNN.json holding the envelope. While a file named
FAIL exists in the folder every message is refused with 451 (a temporary failure).
Run: PYTHONPATH=this/dir python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c lr_smtp_sink.Save DIR

Run as a script for TLS and AUTH (the aiosmtpd command line cannot take an authenticator):
  python3 lr_smtp_sink.py --listen 127.0.0.1:PORT [--starttls CERT KEY | --smtps CERT KEY]
          [--auth USER:PASSWORD [--auth-only PLAIN|LOGIN]] DIR
--starttls offers STARTTLS and refuses everything but EHLO/NOOP/QUIT before it; --smtps
speaks TLS from the first byte; --auth offers AUTH PLAIN and LOGIN (only over TLS) for
that one user and requires it before MAIL. NNNN.json then also says whether the session
was TLS (tls, starttls, tls_version, cipher) and who authenticated (auth_login), and every
AUTH attempt is appended to auth.jsonl (mechanism, login, success, tls; never a password)."""
import itertools
import json
import os


def _tls_info(server, session):
    ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
    return {
        "tls": ssl_object is not None,
        # aiosmtpd sets session.ssl only when the session was upgraded by STARTTLS
        "starttls": getattr(session, "ssl", None) is not None,
        "tls_version": ssl_object.version() if ssl_object else None,
        "cipher": ssl_object.cipher()[0] if ssl_object else None,
    }


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


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
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}
        meta.update(_tls_info(server, session))
        meta["auth_login"] = _text(getattr(session.auth_data, "login", None)) \
            if getattr(session, "authenticated", False) else None
        with open(base + ".json", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".tmp", base + ".eml")
        return "250 OK"


class OneUser:
    """aiosmtpd authenticator accepting one login/password, logging each attempt."""

    def __init__(self, folder, login, password):
        self.log = os.path.join(folder, "auth.jsonl")
        self.login = login.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == self.login
              and auth_data.password == self.password)
        entry = {"mechanism": mechanism, "success": ok,
                 "login": _text(getattr(auth_data, "login", None))}
        entry.update(_tls_info(server, session))
        with open(self.log, "a") as f:
            f.write(json.dumps(entry) + "\n")
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def main():
    import argparse
    import asyncio
    import ssl
    from aiosmtpd.smtp import SMTP

    p = argparse.ArgumentParser(description="SMTP sink for the reporter tests")
    p.add_argument("--listen", required=True, metavar="HOST:PORT")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    mode.add_argument("--smtps", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--auth", metavar="USER:PASSWORD")
    p.add_argument("--auth-only", metavar="MECHANISM", help="offer only PLAIN or only LOGIN")
    p.add_argument("folder")
    a = p.parse_args()
    host, _, port = a.listen.rpartition(":")
    handler = Save(a.folder)

    context = None
    if a.starttls or a.smtps:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*(a.starttls or a.smtps))
    kwargs = {"hostname": "sink.localhost"}
    if a.starttls:
        kwargs.update(tls_context=context, require_starttls=True)
    if a.auth:
        user, _, password = a.auth.partition(":")
        # aiosmtpd's auth_require_tls only knows STARTTLS; an SMTPS listener is TLS anyway
        kwargs.update(authenticator=OneUser(a.folder, user, password), auth_required=True,
                      auth_require_tls=not a.smtps)
        if a.auth_only:
            kwargs["auth_exclude_mechanism"] = {"PLAIN", "LOGIN"} - {a.auth_only.upper()}

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(handler, loop=loop, **kwargs), host=host, port=int(port),
        ssl=context if a.smtps else None))
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
