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
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import path from 'node:path';
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
// replaced: by htmx's swap (hx-boost) or by a new document (no JavaScript). So the next
// step never sees the previous page's text.
export async function act(page, fn) {
  await page.evaluate(() => { const m = document.querySelector('main'); if (m) m.dataset.stale = '1'; });
  await fn();
  await page.waitForFunction(() => { const m = document.querySelector('main'); return m && !m.dataset.stale; },
    null, { timeout: TIMEOUT });
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
