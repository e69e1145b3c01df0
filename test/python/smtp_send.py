"""Send one message with Python's smtplib (a real client we did not write).

Usage: python3 smtp_send.py '<json>' where the JSON object has
  host, port          server address
  helo                our EHLO name
  starttls            bool: STARTTLS before anything else (verifying cafile)
  cafile              PEM file of the server's self-signed certificate
  auth                "", "PLAIN" (smtplib's own choice via login()) or "LOGIN"
  user, password      credentials for auth
  from, to            envelope sender and list of recipients
  message_b64         the message bytes (CRLF line ends), base64
  mail_options        e.g. ["SMTPUTF8"]

Prints a JSON object: {"ok": true, "refused": {...}, "ehlo": [...]} or
{"ok": false, "code": N, "text": "..."} and exits 0 either way; the Go test decides.
"""
import base64
import json
import smtplib
import ssl
import sys


def main():
    o = json.loads(sys.argv[1])
    out = {"ok": False}
    s = smtplib.SMTP(o["host"], int(o["port"]), local_hostname=o.get("helo", "py.client.test"), timeout=30)
    try:
        s.ehlo()
        if o.get("starttls"):
            ctx = ssl.create_default_context(cafile=o["cafile"])
            s.starttls(context=ctx)
            s.ehlo()
        out["ehlo"] = sorted(s.esmtp_features.keys())
        if o.get("auth") == "PLAIN":
            s.login(o["user"], o["password"])
        elif o.get("auth") == "LOGIN":
            s.user, s.password = o["user"], o["password"]
            s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        msg = base64.b64decode(o["message_b64"])
        refused = s.sendmail(o["from"], o["to"], msg, mail_options=o.get("mail_options", []))
        out = {"ok": True, "refused": {k: [v[0], v[1].decode()] for k, v in refused.items()}, "ehlo": out["ehlo"]}
    except smtplib.SMTPResponseException as e:
        out = {"ok": False, "code": e.smtp_code, "text": e.smtp_error.decode(errors="replace")}
    except smtplib.SMTPRecipientsRefused as e:
        out = {"ok": False, "code": 0, "text": str(e.recipients)}
    finally:
        try:
            s.quit()
        except Exception:  # the server may have closed already
            pass
    print(json.dumps(out))


main()
