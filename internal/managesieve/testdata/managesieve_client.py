"""A ManageSieve client (RFC 5804) in plain Python, for managesieve's tests: written
from the RFC, not from the server, with the standard library's socket, ssl and base64.

Usage: managesieve_client.py HOST PORT CAFILE USER PASSWORD SCRIPTFILE

It reads the greeting, upgrades with STARTTLS verifying the server's certificate
against CAFILE (host name "localhost"), reads the capabilities sent again, logs in with
AUTHENTICATE "PLAIN" answering the server's empty challenge with a literal, and runs
the script commands on SCRIPTFILE: HAVESPACE, CHECKSCRIPT of a broken script,
PUTSCRIPT "filing", LISTSCRIPTS, SETACTIVE "filing", GETSCRIPT, PUTSCRIPT "spare",
RENAMESCRIPT, DELETESCRIPT of the active script (refused) and of the spare, NOOP with
a tag, LOGOUT. It prints one JSON object: for every step the response kind (OK, NO,
BYE), its response code, its text and the data that came before it.
"""
import base64
import json
import socket
import ssl
import sys


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.f = sock.makefile("rb")

    def send(self, data):
        self.sock.sendall(data)

    def command(self, *parts):
        """Sends a command; strings are sent as non-synchronising literals (RFC 5804 4)."""
        out = b""
        for i, p in enumerate(parts):
            if i:
                out += b" "
            if isinstance(p, bytes):
                out += b"{%d+}\r\n" % len(p) + p
            elif isinstance(p, int):
                out += str(p).encode()
            else:
                out += p.encode()  # an atom
        self.send(out + b"\r\n")
        return self.response()

    def line(self):
        l = self.f.readline()
        if not l.endswith(b"\r\n"):
            raise EOFError("connection closed or line without CRLF: %r" % l)
        return l[:-2]

    def tokens(self, line):
        """Splits a response line into atoms, strings and parenthesised codes; a literal
        at the end of the line is read and the line continues after it."""
        out = []
        i = 0
        while True:
            while i < len(line) and line[i:i + 1] == b" ":
                i += 1
            if i >= len(line):
                return out
            c = line[i:i + 1]
            if c == b'"':
                j, s = i + 1, b""
                while line[j:j + 1] != b'"':
                    if line[j:j + 1] == b"\\":
                        j += 1
                    s += line[j:j + 1]
                    j += 1
                out.append(s.decode())
                i = j + 1
            elif c == b"{":
                j = line.index(b"}", i)
                n = int(line[i + 1:j].rstrip(b"+"))
                out.append(self.f.read(n).decode())
                line, i = self.line(), 0
            elif c == b"(":
                depth, j = 0, i
                while True:  # a code may hold a quoted string with parentheses
                    if line[j:j + 1] == b'"':
                        j = line.index(b'"', j + 1)
                    elif line[j:j + 1] == b"(":
                        depth += 1
                    elif line[j:j + 1] == b")":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                out.append(("code", line[i + 1:j].decode()))
                i = j + 1
            else:
                j = line.find(b" ", i)
                j = len(line) if j < 0 else j
                out.append(("atom", line[i:j].decode().upper()))
                i = j

    def response(self):
        data = []
        while True:
            toks = self.tokens(self.line())
            if toks and isinstance(toks[0], tuple) and toks[0][1] in ("OK", "NO", "BYE"):
                r = {"kind": toks[0][1], "code": "", "text": "", "data": data}
                for t in toks[1:]:
                    if isinstance(t, tuple):
                        r["code"] = t[1]
                    else:
                        r["text"] = t
                return r
            data.append([t[1] if isinstance(t, tuple) else t for t in toks])


def q(s):
    """A quoted string (RFC 5804 4) for short ASCII arguments."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    host, port, cafile, user, password, scriptfile = sys.argv[1:7]
    script = open(scriptfile, "rb").read()
    out = {}
    c = Conn(socket.create_connection((host, int(port)), timeout=30))
    out["greeting"] = c.response()
    out["starttls"] = c.command("STARTTLS")
    ctx = ssl.create_default_context(cafile=cafile)
    c = Conn(ctx.wrap_socket(c.sock, server_hostname="localhost"))
    out["capabilities_tls"] = c.response()  # RFC 5804 2.2: sent again after the handshake
    c.send(b'AUTHENTICATE "PLAIN"\r\n')
    challenge = c.tokens(c.line())
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
    c.send(b"{%d+}\r\n%s\r\n" % (len(token), token))
    out["challenge"] = challenge
    out["authenticate"] = c.response()
    out["havespace"] = c.command("HAVESPACE", q("filing"), len(script))
    out["checkscript_bad"] = c.command("CHECKSCRIPT", b'require "fileinto";\r\nfileinto "x"\r\n')
    out["putscript"] = c.command("PUTSCRIPT", q("filing"), script)
    out["listscripts"] = c.command("LISTSCRIPTS")
    out["setactive"] = c.command("SETACTIVE", q("filing"))
    out["getscript"] = c.command("GETSCRIPT", b"filing")
    out["putscript_spare"] = c.command("PUTSCRIPT", q("spare"), b"keep;\r\n")
    out["renamescript"] = c.command("RENAMESCRIPT", q("spare"), q("spare-2"))
    out["delete_active"] = c.command("DELETESCRIPT", q("filing"))
    out["delete_spare"] = c.command("DELETESCRIPT", q("spare-2"))
    out["listscripts_end"] = c.command("LISTSCRIPTS")
    out["noop"] = c.command("NOOP", q("tag-1"))
    out["logout"] = c.command("LOGOUT")
    out["script_back"] = out["getscript"]["data"][0][0] == script.decode()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
