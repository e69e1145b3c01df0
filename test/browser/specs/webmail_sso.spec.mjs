// Single sign-on from an operator's portal: the portal (a page on another site, served
// here on loopback as http://localhost:PORT) links to a one-time login link signed with
// the domain's secret (from the CLI); following it lands the user in their webmail. The
// same link again, an expired link and a link for another domain's user are refused, and
// a refused link starts no session.
import { createServer } from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';
import { run, env, login, expectText, cli, assert } from '../lib.mjs';

// link is the portal's side of docs/webmail.md "Single sign-on".
function link(secret, user, ts = Math.floor(Date.now() / 1000)) {
  const nonce = randomBytes(16).toString('hex');
  const sig = createHmac('sha256', secret).update(['mailgrid-sso-v1', user, String(ts), nonce].join('\n')).digest('hex');
  return `${env.BASE_URL}/sso?` + new URLSearchParams({ user, ts: String(ts), nonce, sig });
}

// portal serves one page linking to href, on another site than the mail server.
async function portal(href) {
  const srv = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Portal</title></head>` +
      `<body><a id="webmail" href="${href.replace(/&/g, '&amp;')}">Open webmail</a></body></html>`);
  });
  await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
  return { url: `http://localhost:${srv.address().port}/`, close: () => srv.close() };
}

run(async (b) => {
  const secret = cli('domain', 'sso-secret', env.DOMAIN).trim();
  assert.equal(secret.length, 64);
  cli('domain', 'sso-secret', env.OTHER_DOMAIN); // both domains have secrets: a signature question
  const good = link(secret, env.USER);

  await b.step('a link from the portal lands the user in the webmail', async () => {
    const p = await portal(good);
    try {
      const page = await b.page();
      await page.goto(p.url);
      await Promise.all([page.waitForURL(/\/mail\/f\/\d+/), page.click('#webmail')]);
      await expectText(page, env.USER);
      await expectText(page, 'INBOX');
      // The session is a real one: a reload keeps the user signed in.
      await page.reload();
      assert.match(page.url(), /\/mail\/f\/\d+/);
    } finally {
      p.close();
    }
  });

  // The refused links answer 403 (400): chromium logs the status as a console error.
  b.allowConsoleError(/status of 40[03]/);
  const refused = async (name, href, text) => b.step(name, async () => {
    const page = await b.page();
    const resp = await page.goto(href);
    assert.equal(resp.status(), 403, `${name}: status`);
    await expectText(page, text);
    await page.goto('/mail/');
    assert.match(page.url(), /\/login/, `${name}: a session was started`);
  });
  await refused('the same link again is refused', good, /already used/);
  await refused('an expired link is refused', link(secret, env.USER, Math.floor(Date.now() / 1000) - 120), /expired/);
  await refused("another domain's user with this domain's secret is refused", link(secret, env.OTHER_USER), /wrong signature/);

  await b.step('a rotated secret voids links signed with the old one', async () => {
    cli('domain', 'sso-secret', env.DOMAIN, '--rotate');
    const page = await b.page();
    const resp = await page.goto(link(secret, env.USER));
    assert.equal(resp.status(), 403);
  });

  await b.step('the domain admin sees the secret on the console', async () => {
    const now = cli('domain', 'sso-secret', env.DOMAIN).trim();
    const page = await b.page();
    await login(page, env.DOMAIN_ADMIN, env.DOMAIN_ADMIN_PASSWORD);
    await page.goto(`/console/domains/${env.DOMAIN}/sso`);
    await expectText(page, now, { within: '#sso-secret-value' });
  });
});
