"""Drive mailgrid's IMAP server with Python's imaplib (a client we did not write).

Usage: imaplib_client.py HOST STARTTLS_PORT IMPLICIT_TLS_PORT
Exits non-zero with a message on the first failed expectation.
"""
import imaplib
import re
import socket
import ssl
import sys
import time

HOST, PORT, TLSPORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
USER, PASSWORD = "user@local.test", "user-password"


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def check(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)
    print("ok:", what)


def ok(resp, what):
    typ, data = resp
    check(typ == "OK", "%s -> %s %r" % (what, typ, data))
    return data


def starttls_session():
    m = imaplib.IMAP4(HOST, PORT)
    check("STARTTLS" in m.capabilities, "STARTTLS advertised")
    check("LOGINDISABLED" in m.capabilities, "LOGINDISABLED before TLS")
    m.starttls(ssl_context=ctx())
    ok(m.login(USER, PASSWORD), "login after STARTTLS")
    return m


def mailboxes(m):
    data = ok(m.list(), "list")
    names = [re.search(rb'"/" (.*)$', d).group(1).strip(b'"') for d in data]
    check(b"INBOX" in names and b"Sent" in names, "list has INBOX and Sent: %r" % names)
    special = [d for d in data if b"\\Trash" in d]
    check(len(special) == 1 and special[0].endswith(b"Trash"), "special-use \\Trash")
    ok(m.create("Work/Reports"), "create nested")
    ok(m.create("Caf\u00e9".encode("utf-7").replace(b"+", b"&").decode()), "create non-ASCII (mUTF-7)")
    data = ok(m.list('""', "Work/*"), "list pattern")
    check(len(data) == 1 and data[0].endswith(b"Work/Reports"), "list Work/*: %r" % data)
    typ, _ = m.create("../escape")
    check(typ != "OK", "path trick refused")
    ok(m.rename("Work/Reports", "Work/Old"), "rename")
    ok(m.delete("Work/Old"), "delete")
    ok(m.subscribe("Work"), "subscribe")
    data = ok(m.lsub('""', "W*"), "lsub")
    check(len(data) == 1 and b"Work" in data[0], "lsub Work: %r" % data)


def fetches(m):
    data = ok(m.select("INBOX"), "select INBOX")
    check(data == [b"2"], "two messages: %r" % data)
    data = ok(m.fetch("1:2", "(UID FLAGS RFC822.SIZE ENVELOPE)"), "fetch envelope")
    check(b"Hello there" in data[0] and b"UID 1" in data[0], "envelope 1: %r" % data[0])
    data = ok(m.fetch("2", "(BODYSTRUCTURE)"), "fetch bodystructure")
    check(b'"mixed"' in data[0] and b'"base64"' in data[0], "bodystructure: %r" % data)
    data = ok(m.fetch("2", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "fetch sections")
    parts = [d[1] for d in data if isinstance(d, tuple)]
    check(parts[0] == b"Caf=C3=A9 numbers attached.", "part 1: %r" % parts[0])
    check(b"application/octet-stream" in parts[1], "part 2 MIME: %r" % parts[1])
    check(parts[2].startswith(b"Subject: =?utf-8?q?Caf=C3=A9_report?="), "header field: %r" % parts[2])
    data = ok(m.fetch("1", "(RFC822)"), "fetch RFC822")
    check(data[0][1].endswith(b"Hello body line one.\r\n"), "whole message")
    data = ok(m.fetch("1", "(FLAGS)"), "flags after RFC822")
    check(b"\\Seen" in data[0], "RFC822 sets \\Seen: %r" % data)
    data = ok(m.fetch("2", "(BODY.PEEK[]<0.10>)"), "partial")
    check(data[0][1] == b"From: \"Bob", "partial <0.10>: %r" % data[0][1])


def search_store(m):
    data = ok(m.search(None, "UNSEEN"), "search UNSEEN")
    check(data == [b"2"], "unseen: %r" % data)
    data = ok(m.search("UTF-8", "BODY", '"caf\u00e9"'.encode()), "search body charset UTF-8")
    check(data == [b"2"], "body search: %r" % data)
    data = ok(m.uid("SEARCH", None, "FROM", "alice"), "uid search")
    check(data == [b"1"], "uid search: %r" % data)
    data = ok(m.store("2", "+FLAGS", "(\\Flagged $Label1)"), "store +flags")
    check(b"\\Flagged" in data[0] and b"$Label1" in data[0], "store result: %r" % data)
    data = ok(m.uid("STORE", "2", "-FLAGS", "($Label1)"), "uid store -flags")
    check(b"$Label1" not in data[0] and b"UID 2" in data[0], "uid store result: %r" % data)
    data = ok(m.search(None, "FLAGGED"), "search flagged")
    check(data == [b"2"], "flagged: %r" % data)


def uid_set(b):
    """Expand an RFC 4315 uid-set (e.g. b"1:3,7") into a list of UIDs."""
    out = []
    for part in b.split(b","):
        lo, _, hi = part.partition(b":")
        lo, hi = int(lo), int(hi or lo)
        out.extend(range(min(lo, hi), max(lo, hi) + 1))
    return out


def copyuid(data, what):
    """The (uidvalidity, source UIDs, destination UIDs) of a tagged OK's COPYUID code."""
    mo = re.match(rb"\[COPYUID (\d+) ([0-9:,]+) ([0-9:,]+)\]", data[0])
    check(mo is not None, "%s: tagged OK carries COPYUID (RFC 4315 3): %r" % (what, data))
    return int(mo.group(1)), uid_set(mo.group(2)), uid_set(mo.group(3))


def copy_expunge_append(m):
    # RFC 4315 3: the tagged OK of COPY carries [COPYUID uidvalidity source-uids dest-uids],
    # the two sets in the same order, the validity that of the destination.
    data = ok(m.copy("1:2", "Archive"), "copy")
    validity, src, dst = copyuid(data, "copy 1:2 Archive")
    check(src == [1, 2], "COPYUID source UIDs are INBOX's 1 and 2: %r" % src)
    check(len(dst) == 2 and dst[0] < dst[1], "COPYUID names two ascending Archive UIDs: %r" % dst)
    st = ok(m.status("Archive", "(UIDVALIDITY UIDNEXT)"), "status Archive after copy")
    check(b"UIDVALIDITY %d " % validity in st[0] or b"UIDVALIDITY %d)" % validity in st[0],
          "COPYUID validity %d is Archive's: %r" % (validity, st))
    check(b"UIDNEXT %d" % (dst[1] + 1) in st[0], "Archive UIDNEXT follows the COPYUID UIDs: %r" % st)
    # imaplib's uid() returns the untagged FETCH data, not the tagged line; it files a
    # tagged line's response code under its name, so read COPYUID from there (cleared
    # first: the COPY above left its own).
    m.untagged_responses.pop("COPYUID", None)
    ok(m.uid("COPY", "1", "Trash"), "uid copy")
    codes = m.untagged_responses.pop("COPYUID", [])
    check(len(codes) == 1, "UID COPY returned one COPYUID: %r" % codes)
    _, src, dst = copyuid([b"[COPYUID " + codes[0] + b"]"], "uid copy 1 Trash")
    check(src == [1] and len(dst) == 1, "UID COPY COPYUID maps UID 1 to one Trash UID: %r %r" % (src, dst))
    typ, data = m.copy("1", "Nowhere")
    check(typ == "NO" and b"TRYCREATE" in data[0], "copy to missing mailbox: %r" % data)
    ok(m.store("1", "+FLAGS", "\\Deleted"), "mark deleted")
    data = ok(m.expunge(), "expunge")
    check(data == [b"1"], "expunged message 1: %r" % data)
    msg = b"From: py@local.test\r\nSubject: appended\r\n\r\nfrom imaplib\r\n"
    typ, data = m.append("INBOX", "(\\Seen)", imaplib.Time2Internaldate(time.time()), msg)
    check(typ == "OK" and b"APPENDUID" in data[0], "append: %r" % data)
    ok(m.noop(), "noop")
    data = ok(m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[TEXT])"), "uid fetch after append")
    check(any(isinstance(d, tuple) and d[1] == b"from imaplib\r\n" for d in data), "appended text: %r" % data)
    data = ok(m.status("Archive", "(MESSAGES UIDNEXT UNSEEN)"), "status")
    check(b"MESSAGES 2" in data[0], "status Archive: %r" % data)
    data = ok(m.getquotaroot("INBOX"), "getquotaroot")
    ok(m.close(), "close")


def idle(m):
    """imaplib in 3.11 has no idle(): speak it raw, and deliver by APPEND elsewhere."""
    ok(m.select("INBOX"), "select for idle")
    tag = m._new_tag().decode()
    m.send(("%s IDLE\r\n" % tag).encode())
    line = m.readline()
    check(line.startswith(b"+"), "idle continuation: %r" % line)
    other = starttls_session()
    ok(other.append("INBOX", None, None, b"Subject: pushed\r\n\r\nbody\r\n"), "append on other connection")
    other.logout()
    line = m.readline()
    check(re.match(rb"\* \d+ EXISTS", line) is not None, "EXISTS pushed during IDLE: %r" % line)
    m.send(b"DONE\r\n")
    line = m.readline()
    check(line.startswith(tag.encode() + b" OK"), "idle done: %r" % line)


def implicit_tls():
    m = imaplib.IMAP4_SSL(HOST, TLSPORT, ssl_context=ctx())
    check("AUTH=PLAIN" in m.capabilities, "AUTH=PLAIN over implicit TLS")
    ok(m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (USER, PASSWORD)).encode()), "AUTHENTICATE PLAIN")
    data = ok(m.select("Archive", readonly=True), "examine")
    check(data == [b"2"], "archive count: %r" % data)
    ok(m.logout(), "logout") if False else m.logout()


def main():
    m = starttls_session()
    mailboxes(m)
    fetches(m)
    search_store(m)
    copy_expunge_append(m)
    idle(m)
    m.logout()
    implicit_tls()
    print("all imaplib checks passed")


main()
