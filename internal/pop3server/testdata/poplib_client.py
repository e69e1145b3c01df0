"""A POP3 session by Python's poplib (a client we did not write), for pop3server's tests.

Usage: poplib_client.py HOST PORT CAFILE USER PASSWORD MODE DELETE...

It connects in plaintext, upgrades with STLS verifying the server's certificate against
CAFILE, logs in (MODE "user": USER/PASS; "plain": AUTH PLAIN), reads STAT, LIST, UIDL,
every message (RETR) and the top of message 1, marks the DELETE message numbers with
DELE and ends with QUIT, or, when MODE ends in "-drop", closes the socket without QUIT.
It prints one JSON object; message bodies are base64 of the lines joined with CRLF.
"""
import base64
import json
import poplib
import ssl
import sys


def joined(lines):
    return base64.b64encode(b"".join(l + b"\r\n" for l in lines)).decode()


def main():
    host, port, cafile, user, password, mode = sys.argv[1:7]
    delete = [int(n) for n in sys.argv[7:]]
    ctx = ssl.create_default_context(cafile=cafile)
    p = poplib.POP3(host, int(port), timeout=30)
    out = {"welcome": p.getwelcome().decode()}
    out["capa_before"] = sorted(p.capa().keys())
    p.stls(ctx)
    out["capa_after"] = sorted(p.capa().keys())
    if mode.startswith("plain"):
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
        out["login"] = p._shortcmd("AUTH PLAIN " + token).decode()
    else:
        p.user(user)
        out["login"] = p.pass_(password).decode()
    count, size = p.stat()
    out["stat"] = [count, size]
    out["list"] = [l.decode() for l in p.list()[1]]
    out["uidl"] = [l.decode() for l in p.uidl()[1]]
    out["retr"] = [joined(p.retr(i)[1]) for i in range(1, count + 1)]
    if count:
        out["top"] = joined(p.top(1, 2)[1])
    for n in delete:
        out.setdefault("dele", []).append(p.dele(n).decode())
    if mode.endswith("-drop"):
        p.sock.close()
    else:
        out["quit"] = p.quit().decode()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
