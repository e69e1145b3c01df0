// Helpers for the browser specs (specs/*.spec.mjs), run by browser_test.go with node.
//
// A spec is a script:
//
//   import { run, env, login, expectText } from '../lib.mjs';
//   run(async (b) => {
//     const page = await b.page();            // a fresh browser context (own cookies)
//     await login(page, env.ADMIN_USER, env.ADMIN_PASSWORD);
//     await b.step('domains listed', async () => { await expectText(page, env.DOMAIN); });
//   });
//
// run() launches Debian's chromium through playwright-core (never a downloaded browser),
// collects every console error and uncaught page exception of every page, and exits 1 when
// the spec throws or any page logged an error that was not allowed with
// b.allowConsoleError(regex). On failure it saves a screenshot of each open page in
// ARTIFACTS_DIR.
//
// Besides the page helpers it has the mail around the pages, through real clients: SMTP
// in (smtpSend, smtpSession, textMessage), IMAP out (imapFetch, imapSubjects: Python's
// imaplib; imapflowSubjects: imapflow), a loopback beacon for remote content, and until, a
// bounded poll.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';

export { assert };

// env is the spec's environment: BASE_URL, the fixture accounts, listener addresses.
export const env = process.env;

const launchArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

// The default wait of every Playwright action and of the expect* helpers.
export const TIMEOUT = 10_000;

class Browser {
  constructor(browser) {
    this.browser = browser;
    this.errors = [];
    this.allowed = [];
    this.pages = [];
    this.dialogs = [];
  }

  // page opens a page in a new context (its own cookie jar). options go to
  // browser.newContext, e.g. { javaScriptEnabled: false } for the no-JS path.
  async page(options = {}) {
    const ctx = await this.browser.newContext({ baseURL: env.BASE_URL, ...options });
    ctx.setDefaultTimeout(TIMEOUT);
    const page = await ctx.newPage();
    const label = `page${this.pages.length + 1}`;
    this.pages.push(page);
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const at = m.location()?.url;
      this.errors.push(`${label} ${page.url()}: console error: ${m.text()}${at && at !== page.url() ? ` (${at})` : ''}`);
    });
    page.on('pageerror', (e) => this.errors.push(`${label} ${page.url()}: uncaught: ${e.message}`));
    // Confirmation dialogs (hx-confirm) are accepted; this.dialogs records their text.
    page.on('dialog', (d) => {
      this.dialogs.push(d.message());
      d.accept().catch(() => {});
    });
    return page;
  }

  // allowConsoleError accepts console errors matching re (e.g. the 403 of a page a spec
  // opens on purpose).
  allowConsoleError(re) {
    this.allowed.push(re);
  }

  // step runs fn and names it in the output (and in the failure).
  async step(name, fn) {
    process.stdout.write(`step: ${name}\n`);
    try {
      return await fn();
    } catch (e) {
      e.message = `step "${name}": ${e.message}`;
      throw e;
    }
  }

  unexpectedErrors() {
    return this.errors.filter((e) => !this.allowed.some((re) => re.test(e)));
  }
}

// run launches chromium, runs spec(b) and exits the process: 0 when it passed and no page
// logged an unexpected console error, 1 otherwise. timeoutMs bounds the whole spec.
export async function run(spec, { timeoutMs = 180_000 } = {}) {
  const timer = setTimeout(() => {
    console.error(`spec timed out after ${timeoutMs} ms`);
    process.exit(1);
  }, timeoutMs);
  const browser = await chromium.launch({
    executablePath: env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: launchArgs,
  });
  const b = new Browser(browser);
  let failed = false;
  try {
    await spec(b);
  } catch (e) {
    failed = true;
    console.error(`FAIL: ${e.stack || e}`);
    for (const [i, p] of b.pages.entries()) {
      const file = path.join(env.ARTIFACTS_DIR || '.', `page${i + 1}.png`);
      try {
        await p.screenshot({ path: file, fullPage: true });
        console.error(`screenshot of page${i + 1} (${p.url()}): ${file}`);
      } catch {
        // a closed page has no screenshot
      }
    }
  }
  const errs = b.unexpectedErrors();
  if (errs.length > 0) {
    failed = true;
    console.error(`FAIL: ${errs.length} error(s) in the browser console:\n  ${errs.join('\n  ')}`);
  }
  await browser.close();
  clearTimeout(timer);
  if (!failed) console.log('PASS');
  process.exit(failed ? 1 : 0);
}

// login signs in through the console's form and waits for the page after it.
export async function login(page, address, password, { next = '' } = {}) {
  await page.goto('/login' + (next ? `?next=${encodeURIComponent(next)}` : ''));
  await page.fill('input[name=login]', address);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('button[type=submit]')]);
}

// goto navigates page to url, again if a navigation of the page itself interrupted it
// (the webmail's live update reloads an idle folder list when mail arrives).
export async function goto(page, url, opts) {
  for (let i = 0; ; i++) {
    try {
      return await page.goto(url, opts);
    } catch (e) {
      if (i >= 4 || !/interrupted by another navigation|net::ERR_ABORTED/.test(String(e))) throw e;
      await page.waitForLoadState('load');
    }
  }
}

// logout uses the header's sign-out button.
export async function logout(page) {
  await Promise.all([page.waitForURL(/\/login/), page.click('header button:has-text("Sign out")')]);
}

// scope is the element of selector `within` in page (a Page or a Locator; a Locator
// itself for the default 'body').
function scope(page, within) {
  if (typeof page.goto !== 'function' && within === 'body') return page;
  return page.locator(within);
}

// expectText waits until text (string or RegExp) is visible on the page (or Locator), or
// inside the element of selector `within`.
export async function expectText(page, text, { within = 'body', timeout = TIMEOUT } = {}) {
  await scope(page, within).getByText(text).first().waitFor({ state: 'visible', timeout });
}

// expectNoText asserts text is not in the page (or the element `within`) now.
export async function expectNoText(page, text, { within = 'body' } = {}) {
  const body = await scope(page, within).innerText();
  const found = text instanceof RegExp ? text.test(body) : body.includes(text);
  assert.ok(!found, `unexpected ${text} in ${within} of ${page.url()}`);
}

// csrf is the session's CSRF token as the page carries it in its forms.
export async function csrf(page) {
  return page.locator('input[name=csrf_token]').first().getAttribute('value');
}

// postForm sends a form POST with the page's cookies and CSRF token, as a crafted
// request would (no browser UI): for checks that the server refuses what the UI hides.
// It returns the Playwright APIResponse.
export async function postForm(page, url, fields = {}) {
  const token = await csrf(page);
  return page.request.post(url, { form: { csrf_token: token, ...fields }, maxRedirects: 0 });
}

// cli runs a mailgrid subcommand against the spec's node and returns its stdout.
export function cli(...args) {
  return execFileSync(env.MAILGRID_BIN, ['--config', env.MAILGRID_CONFIG, ...args], { encoding: 'utf8' });
}

// act runs fn (a click that submits or navigates) and waits until the page's <main> was
// replaced: by htmx's swap (hx-boost) or by a new document (no JavaScript), and htmx has
// settled it (no .htmx-swapping/.htmx-settling/.htmx-added left: the new content's hx-* attributes
// are processed, so typing into it at once is heard). So the next step never sees the
// previous page's text, nor acts on a page whose triggers are not bound yet.
export async function act(page, fn) {
  await page.evaluate(() => { const m = document.querySelector('main'); if (m) m.dataset.stale = '1'; });
  await fn();
  await page.waitForFunction(() => {
    const m = document.querySelector('main');
    return m && !m.dataset.stale && !document.querySelector('.htmx-swapping, .htmx-settling, .htmx-added');
  }, null, { timeout: TIMEOUT });
  await page.waitForLoadState();
}

// click clicks selector and waits for the page it leads to (see act).
export async function click(page, selector) {
  await act(page, () => page.locator(selector).first().click());
}

// submit fills the form with CSS selector `form` (fields: name -> value; a boolean
// checks or unchecks a checkbox; a <select> gets selectOption), clicks its submit button
// and waits for the answer (see act).
export async function submit(page, form, fields = {}) {
  const f = page.locator(form);
  for (const [name, value] of Object.entries(fields)) {
    const input = f.locator(`[name="${name}"]:not([type=hidden])`).first();
    if (typeof value === 'boolean') await input.setChecked(value);
    else if ((await input.evaluate((e) => e.tagName)) === 'SELECT') await input.selectOption(value);
    else await input.fill(String(value));
  }
  await act(page, () => f.locator('button[type=submit]').click());
}

// totpCode computes the RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret at
// time t (ms), as an authenticator app would.
export function totpCode(secret, t = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 30000)));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  const n = (h.readUInt32BE(o) & 0x7fffffff) % 1000000;
  return String(n).padStart(6, '0');
}

// until polls fn (every 250 ms, while it is bounded by ms) until it returns a truthy value,
// and returns that value; past ms it throws "timed out waiting for <what>". The default is
// the longest wait a spec needs (mail through the queue on a loaded machine).
export async function until(what, fn, ms = 60_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// beacon is a loopback HTTP server that records the URL of every request it gets in hits
// and answers with a 1x1 GIF: a spec points remote images, styles and links of a message
// at it to see whether the browser fetched them. Close it with srv.close().
export function beacon() {
  const hits = [];
  const srv = http.createServer((req, res) => {
    hits.push(req.url);
    res.writeHead(200, { 'Content-Type': 'image/gif' });
    res.end(Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64'));
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve({ srv, hits, port: srv.address().port }));
  });
}

// smtpSession delivers messages ({ from, to, data }, one or an array) in one plain SMTP
// session (RFC 5321) to addr, "host:port" (by default the node's MX listener SMTP_ADDR).
// data gets CRLF line ends and dot-stuffing (RFC 5321 4.5.2). It returns the last line of
// every reply, the greeting first, and stops at the first 4xx/5xx reply (without QUIT);
// after the last message it sends QUIT. timeoutMs bounds the socket's idle time.
export async function smtpSession(messages, { addr = env.SMTP_ADDR, timeoutMs = 60_000 } = {}) {
  const i = addr.lastIndexOf(':');
  const sock = net.connect({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)) });
  sock.setEncoding('utf8');
  sock.setTimeout(timeoutMs, () => sock.destroy(new Error('SMTP timeout')));
  let buf = '';
  let failed = null;
  const waiters = [];
  const fail = (e) => {
    failed = failed || e;
    while (waiters.length) waiters.shift().reject(failed);
  };
  sock.on('data', (d) => { buf += d; pump(); });
  sock.on('error', fail);
  sock.on('close', () => fail(new Error('SMTP connection closed')));
  // A reply ends with a line "NNN text" (RFC 5321 4.2.1: "NNN-" lines continue it).
  function pump() {
    for (;;) {
      const m = buf.match(/^((?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\n)/);
      if (!m || !waiters.length) return;
      buf = buf.slice(m[1].length);
      waiters.shift().resolve(m[1].trim().split('\n').pop());
    }
  }
  const reply = () => new Promise((resolve, reject) => {
    waiters.push({ resolve, reject });
    pump();
    if (failed) fail(failed);
  });
  const lines = ['EHLO client.test'];
  for (const m of [messages].flat()) {
    lines.push(`MAIL FROM:<${m.from}>`, `RCPT TO:<${m.to}>`, 'DATA',
      `${m.data.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..')}\r\n.`);
  }
  const replies = [];
  try {
    replies.push(await reply()); // the greeting
    if (/^[45]/.test(replies[0])) return replies;
    for (const line of lines) {
      sock.write(line + '\r\n');
      const r = await reply();
      replies.push(r);
      if (/^[45]/.test(r)) return replies;
    }
    sock.write('QUIT\r\n');
    await reply();
    return replies;
  } finally {
    sock.destroy();
  }
}

// textMessage is a short plain-text message (RFC 5322) from from to to with subject, a
// fresh Message-ID and the current date: data for smtpSession.
export function textMessage(from, to, subject, body = 'Hello.') {
  return `From: <${from}>\r\nTo: <${to}>\r\nSubject: ${subject}\r\nMessage-ID: <${Date.now()}@client.test>\r\n` +
    `Date: ${new Date().toUTCString()}\r\n\r\n${body}`;
}

// smtpSend delivers messages as smtpSession does and throws when a reply refused them.
export async function smtpSend(messages, options) {
  const replies = await smtpSession(messages, options);
  if (/^[45]/.test(replies.at(-1))) throw new Error(`SMTP ${replies.at(-1)} (replies: ${replies.join(' | ')})`);
}

// imaplib runs a Python script with imaplib, logged in as user over IMAPS (the node's
// IMAPS_ADDR, certificate not checked) with INBOX selected as m; the script's sys.argv[4:]
// are args. It returns the script's standard output.
function imaplib(script, user, password, ...args) {
  const py = `
import imaplib, ssl, sys, email
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
host, port = sys.argv[1].rsplit(':', 1)
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=20)
m.login(sys.argv[2], sys.argv[3])
m.select('INBOX')
${script}
m.logout()
`;
  return execFileSync('python3', ['-c', py, env.IMAPS_ADDR, user, password, ...args], { encoding: 'utf8', timeout: 30000 });
}

// imapFetch returns the newest message of user's INBOX whose subject contains subject,
// read over IMAPS with Python's imaplib ("" when none).
export function imapFetch(user, password, subject) {
  return imaplib(`
typ, data = m.search(None, 'SUBJECT', '"' + sys.argv[4] + '"')
ids = data[0].split()
if ids:
    typ, msg = m.fetch(ids[-1], '(RFC822)')
    sys.stdout.buffer.write(msg[0][1])`, user, password, subject);
}

// imapSubjects lists the subjects in user's INBOX, read over IMAPS with Python's imaplib.
export function imapSubjects(user, password) {
  return imaplib(`
typ, data = m.search(None, 'ALL')
for i in data[0].split():
    typ, msg = m.fetch(i, '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    print(email.message_from_bytes(msg[0][1])['Subject'])`, user, password).split('\n').filter(Boolean);
}

// imapflowSubjects lists the subjects in user's INBOX, read with imapflow (a client we did
// not write) over IMAP_ADDR with STARTTLS.
export async function imapflowSubjects(user, pass) {
  const { ImapFlow } = await import('imapflow');
  const [host, port] = env.IMAP_ADDR.split(':');
  const c = new ImapFlow({ host, port: Number(port), secure: false, doSTARTTLS: true,
    tls: { rejectUnauthorized: false }, auth: { user, pass }, logger: false });
  await c.connect();
  try {
    await c.mailboxOpen('INBOX');
    const subjects = [];
    for await (const m of c.fetch('1:*', { envelope: true })) subjects.push(m.envelope.subject);
    return subjects;
  } finally {
    await c.logout();
  }
}
