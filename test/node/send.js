// send.js: submit one multipart message with nodemailer (a real client we did not write).
// Usage: node send.js '<json options>'
//   {host, port, secure, user, pass, ca (PEM file), servername, from, to: [...],
//    subject, text, attachmentName, attachmentBase64, headers: {...}}
// Prints {"messageId": ..., "response": ..., "accepted": [...], "rejected": [...]} on
// success; on failure prints the error's SMTP response and exits 1.
'use strict';
const fs = require('fs');
const nodemailer = require('nodemailer');

async function main() {
  const o = JSON.parse(process.argv[2]);
  const transport = nodemailer.createTransport({
    host: o.host,
    port: o.port,
    secure: !!o.secure,        // implicit TLS (465) when true, else STARTTLS
    requireTLS: !o.secure,     // refuse to authenticate without STARTTLS
    auth: { user: o.user, pass: o.pass, method: o.method || 'PLAIN' },
    tls: { ca: [fs.readFileSync(o.ca)], servername: o.servername },
    name: 'nodemailer.client.test',
    connectionTimeout: 20000,
    greetingTimeout: 20000,
    socketTimeout: 20000,
  });
  const info = await transport.sendMail({
    from: o.from,
    to: o.to,
    subject: o.subject,
    text: o.text,
    headers: o.headers || {},
    attachments: [{
      filename: o.attachmentName,
      content: Buffer.from(o.attachmentBase64, 'base64'),
      contentType: 'application/octet-stream',
    }],
  });
  console.log(JSON.stringify({
    messageId: info.messageId, response: info.response,
    accepted: info.accepted, rejected: info.rejected,
  }));
}

main().catch((err) => {
  console.log(JSON.stringify({ error: err.message, code: err.code, response: err.response, responseCode: err.responseCode }));
  process.exit(1);
});
