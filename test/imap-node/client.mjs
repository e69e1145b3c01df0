// imapflow (a client we did not write) against mailgrid's IMAP server.
// Usage: node client.mjs HOST PORT                      (internal/imapserver TestImapflow)
//        node client.mjs HOST PORT idle-smtp SUBJECT    (test/e2e TestImapflowIDLESeesSMTPDelivery)
// Exits non-zero on the first failed expectation.
import { ImapFlow } from 'imapflow';

const [host, port, mode, subject] = [process.argv[2], Number(process.argv[3]), process.argv[4], process.argv[5]];

function connect() {
  return new ImapFlow({
    host, port, secure: false, doSTARTTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: 'user@local.test', pass: 'user-password' },
    logger: false, qresync: true,
  });
}

function check(cond, what) {
  if (!cond) {
    throw new Error('FAIL: ' + what);
  }
  console.log('ok:', what);
}

async function fetchAndSearch(c) {
  const mb = await c.mailboxOpen('INBOX');
  check(mb.exists === 2, `INBOX has 2 messages (${mb.exists})`);
  check(typeof mb.highestModseq === 'bigint' && mb.highestModseq > 0n, `CONDSTORE highestModseq ${mb.highestModseq}`);
  const msgs = [];
  for await (const m of c.fetch('1:*', { uid: true, flags: true, envelope: true, bodyStructure: true, source: true, size: true })) {
    msgs.push(m);
  }
  check(msgs.length === 2, 'fetched 2 messages');
  check(msgs[0].envelope.subject === 'Hello there', `envelope subject ${msgs[0].envelope.subject}`);
  check(msgs[1].envelope.from[0].address === 'bob@example.net', 'envelope from address');
  check(msgs[1].bodyStructure.childNodes.length === 2, 'bodystructure has two parts');
  check(msgs[0].source.toString().endsWith('Hello body line one.\r\n'), 'source streamed');
  const { content } = await c.download('2', '2', { uid: false });
  const chunks = [];
  for await (const ch of content) chunks.push(ch);
  check(Buffer.concat(chunks).equals(Buffer.from([0, 1, 2, 3, 4])), 'download decodes the base64 part');
  const hits = await c.search({ from: 'bob' });
  check(JSON.stringify(hits) === '[2]', `search from bob: ${JSON.stringify(hits)}`);
  const uidHits = await c.search({ body: 'line one' }, { uid: true });
  check(JSON.stringify(uidHits) === '[1]', `uid search body: ${JSON.stringify(uidHits)}`);
  return mb.highestModseq;
}

async function condstore(c, since) {
  await c.messageFlagsAdd('1', ['\\Flagged']);
  const changed = [];
  for await (const m of c.fetch('1:*', { uid: true, flags: true }, { changedSince: since })) {
    changed.push(m);
  }
  check(changed.length === 1 && changed[0].uid === 1 && changed[0].flags.has('\\Flagged'),
    `changedSince ${since} returns only the flagged message`);
  check(typeof changed[0].modseq === 'bigint' && changed[0].modseq > since, 'MODSEQ returned');
}

async function move(c) {
  const res = await c.messageMove('2', 'Archive');
  check(res && res.uidMap && res.uidMap.get(2) === 1, `move returns COPYUID map ${res && [...res.uidMap]}`);
  const st = await c.status('Archive', { messages: true });
  check(st.messages === 1, 'Archive holds the moved message');
  check(c.mailbox.exists === 1, `INBOX now has 1 message (${c.mailbox.exists})`);
}

async function idle(c) {
  // IDLE on this connection; a second connection appends.
  const seen = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no EXISTS during IDLE')), 20000);
    c.on('exists', (ev) => { clearTimeout(timer); resolve(ev); });
  });
  c.idle().catch((err) => console.error('idle:', err));
  for (let i = 0; i < 100 && !c.idling; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  check(c.idling, 'client is idling');
  const other = connect();
  await other.connect();
  await other.append('INBOX', 'From: node@local.test\r\nSubject: pushed\r\n\r\nhi\r\n', ['\\Seen']);
  await other.logout();
  const ev = await seen;
  check(ev.count === 2 && ev.prevCount === 1, `EXISTS pushed during IDLE (${ev.prevCount} -> ${ev.count})`);
}

// idleSMTP idles on INBOX and prints IDLING; the Go driver then delivers a message with
// SUBJECT over SMTP from another connection. The new EXISTS must arrive during IDLE
// (RFC 2177) and the new message's envelope must carry SUBJECT.
async function idleSMTP(c) {
  const mb = await c.mailboxOpen('INBOX');
  const before = mb.exists;
  const seen = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no EXISTS during IDLE')), 60000);
    c.on('exists', (ev) => { clearTimeout(timer); resolve(ev); });
  });
  c.idle().catch((err) => console.error('idle:', err));
  for (let i = 0; i < 100 && !c.idling; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  check(c.idling, `client is idling on INBOX with ${before} messages`);
  console.log('IDLING');
  const ev = await seen;
  check(c.idling, 'the EXISTS arrived while idling');
  check(ev.count === before + 1 && ev.prevCount === before, `EXISTS pushed during IDLE (${ev.prevCount} -> ${ev.count})`);
  const msg = await c.fetchOne(String(ev.count), { uid: true, envelope: true });
  check(msg && msg.envelope.subject === subject, `the new message is the SMTP delivery: subject ${msg && msg.envelope.subject}`);
}

async function main() {
  if (mode === 'idle-smtp') {
    const c = connect();
    await c.connect();
    await idleSMTP(c);
    await c.logout();
    console.log('all imapflow idle-smtp checks passed');
    return;
  }
  const c = connect();
  await c.connect();
  check(c.secureConnection || c.usable, 'connected');
  check(c.enabled.has('CONDSTORE') || c.enabled.has('QRESYNC'), `enabled: ${[...c.enabled]}`);
  const since = await fetchAndSearch(c);
  await condstore(c, since);
  await move(c);
  await idle(c);
  await c.logout();
  console.log('all imapflow checks passed');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
