"""Judge messages the way a user does, with Python's imaplib (a client we did not write).

Usage: judge.py HOST PORT USER PASSWORD
INBOX holds s1 s2 s3 (spam) and h1 h2 h3 (ham); Junk holds h4 (ham the filters misfiled).
The script moves the spam into Junk (UID MOVE, RFC 6851), moves h4 out of Junk, flags h1
and h2 $NotJunk, then changes its mind about s1 and moves it back to INBOX.
Exits non-zero on the first failure.
"""
import imaplib
import ssl
import sys

HOST, PORT, USER, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def ok(resp, what):
    typ, data = resp
    if typ != "OK":
        raise SystemExit("FAIL: %s -> %s %r" % (what, typ, data))
    return data


def uids_with_subject(m, subject):
    data = ok(m.uid("SEARCH", None, "SUBJECT", subject), "search " + subject)
    return data[0].decode().split()


ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL(HOST, PORT, ssl_context=ctx)
ok(m.login(USER, PASSWORD), "login")
caps = ok(m.capability(), "capability")[0].split()
if b"MOVE" not in caps:
    raise SystemExit("FAIL: no MOVE capability in %r" % caps)
ok(m.select("INBOX"), "select INBOX")
spam = uids_with_subject(m, "offer")
if len(spam) != 3:
    raise SystemExit("FAIL: spam uids %r" % spam)
ok(m.uid("MOVE", ",".join(spam), "Junk"), "move spam to Junk")
ham = uids_with_subject(m, "meeting")
ok(m.uid("STORE", ",".join(ham[:2]), "+FLAGS", "($NotJunk)"), "flag $NotJunk")
ok(m.select("Junk"), "select Junk")
h4 = uids_with_subject(m, "meeting")
if len(h4) != 1:
    raise SystemExit("FAIL: h4 %r" % h4)
ok(m.uid("MOVE", h4[0], "INBOX"), "move h4 out of Junk")
s1 = uids_with_subject(m, "\"offer number one\"")
ok(m.uid("MOVE", s1[0], "INBOX"), "move s1 back to INBOX")
m.logout()
print("ok")
