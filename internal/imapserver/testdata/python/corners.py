"""RENAME INBOX, LSUB \\Noselect and APPEND's time zone with Python's imaplib.

Usage: corners.py HOST STARTTLS_PORT
Exits non-zero with a message on the first failed expectation.
"""
import imaplib
import ssl
import sys

HOST, PORT = sys.argv[1], int(sys.argv[2])


def check(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)
    print("ok:", what)


def ok(resp, what):
    typ, data = resp
    check(typ == "OK", "%s -> %s %r" % (what, typ, data))
    return data


c = ssl.create_default_context()
c.check_hostname = False
c.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4(HOST, PORT)
m.starttls(ssl_context=c)
ok(m.login("user@local.test", "user-password"), "login")

# APPEND with a date-time in +0530: INTERNALDATE comes back in that zone (RFC 9051 2.3.3).
ok(m.append("INBOX", None, '"14-Jul-2024 10:11:12 +0530"', b"Subject: zoned\r\n\r\nbody\r\n"), "append with zone")
ok(m.select("INBOX"), "select")
data = ok(m.fetch("3", "(INTERNALDATE)"), "fetch internaldate")
check(b'INTERNALDATE "14-Jul-2024 10:11:12 +0530"' in data[0], "zone kept: %r" % data)
ok(m.close(), "close")

# RENAME INBOX moves the messages and leaves INBOX, and its inferiors, in place.
ok(m.create("INBOX/Child"), "create INBOX/Child")
ok(m.rename("INBOX", '"Old Inbox"'), "rename INBOX")
data = ok(m.status("INBOX", "(MESSAGES)"), "status INBOX")
check(b"MESSAGES 0" in data[0], "INBOX empty: %r" % data)
data = ok(m.status('"Old Inbox"', "(MESSAGES)"), "status Old Inbox")
check(b"MESSAGES 3" in data[0], "messages moved: %r" % data)
data = ok(m.list('""', "INBOX*"), "list INBOX*")
check(any(b"INBOX/Child" in d for d in data), "inferior kept: %r" % data)
typ, data = m.rename("INBOX", '"Old Inbox"')
check(typ == "NO" and b"ALREADYEXISTS" in data[0], "rename onto an existing name: %s %r" % (typ, data))

# LSUB "%" shows an unsubscribed parent of a subscribed mailbox as \Noselect.
ok(m.create("Projects/Alpha"), "create Projects/Alpha")
ok(m.subscribe("Projects/Alpha"), "subscribe")
ok(m.unsubscribe("Projects"), "unsubscribe parent")
data = ok(m.lsub('""', "%"), "lsub %")
check(any(b"(\\Noselect)" in d and d.endswith(b"Projects") for d in data), "parent \\Noselect: %r" % data)
check(not any(b"Projects/Alpha" in d for d in data), "child not under %%: %r" % data)
data = ok(m.lsub('""', "*"), "lsub *")
check(any(b"Projects/Alpha" in d for d in data), "child under *: %r" % data)
check(not any(b"\\Noselect" in d and d.endswith(b"Projects") for d in data), "no parent under *: %r" % data)
m.logout()
