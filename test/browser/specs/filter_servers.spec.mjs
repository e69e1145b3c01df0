// The filter servers page (system admin): the node's configured external filters with
// their health and the calls the node made. The node (filter_servers.toml) has a clamd
// that is not running (down) and an HTTP hook at its own login page (up). A message sent
// over SMTP makes one call to each, both failing (clamd unreachable, the hook answers no
// verdict): the counters show it. "Check now" re-checks. A domain admin neither sees the
// menu entry nor reaches the page or the API.
import { run, env, login, expectText, click, assert, smtpSession, textMessage } from '../lib.mjs';

// row is the servers table's row of the filter named name.
const row = (page, name) => page.locator(`#servers tr[data-name="${name}"]`);

run(async (b) => {
  const admin = await b.page();
  await login(admin, env.ADMIN_USER, env.ADMIN_PASSWORD);

  await b.step('the menu leads to the node\'s filter servers', async () => {
    await click(admin, 'nav >> text=Filter servers');
    await expectText(admin, 'Filter servers', { within: 'h1' });
    await expectText(admin, 'The view of node', { within: '#node' });
    await expectText(admin, 'clamd', { within: '#servers' });
    assert.match(await row(admin, 'virus').innerText(), /clamd\s+unix:\/nonexistent\/mailgrid-browser-test\/clamd\.sock/);
    assert.match(await row(admin, 'virus').locator('.health').innerText(), /^down$/);
    assert.match(await row(admin, 'virus').innerText(), /clamd unavailable/);
    assert.match(await row(admin, 'virus').innerText(), /fail-open/);
    assert.match(await row(admin, 'self-hook').locator('.health').innerText(), /^up$/);
    assert.match(await row(admin, 'self-hook').innerText(), /http-hook/);
    assert.match(await row(admin, 'self-hook').innerText(), /no calls yet/);
  });

  await b.step('a message makes one call to each, counted', async () => {
    const r = (await smtpSession({ from: 'someone@remote.example', to: env.USER,
      data: textMessage('someone@remote.example', env.USER, 'scanned') })).at(-1);
    assert.match(r, /^250/, `SMTP: ${r}`);
    await click(admin, '#check-servers button');
    await expectText(admin, 'Checked every server just now.');
    const cells = async (name) => (await row(admin, name).locator('td').allInnerTexts()).slice(-3).map(Number);
    assert.deepEqual(await cells('virus'), [1, 1, 0], 'clamd: calls, errors, timeouts');
    assert.deepEqual(await cells('self-hook'), [1, 1, 0], 'hook: calls, errors, timeouts');
    assert.match(await row(admin, 'self-hook').innerText(), /of the last 1 calls/);
    assert.match(await row(admin, 'self-hook').locator('.health').innerText(), /^up$/);
  });

  await b.step('the API answers the same view as JSON', async () => {
    const resp = await admin.request.get('/api/v1/filter-servers');
    assert.equal(resp.status(), 200);
    const v = await resp.json();
    assert.ok(v.node, 'the node is named');
    const byName = Object.fromEntries(v.items.map((i) => [i.name, i]));
    assert.equal(byName.virus.kind, 'clamd');
    assert.equal(byName.virus.health.state, 'down');
    assert.equal(byName['self-hook'].health.state, 'up');
    assert.equal(byName['self-hook'].calls, 1);
  });

  await b.step('a domain admin has no way in', async () => {
    const da = await b.page();
    await login(da, env.DOMAIN_ADMIN, env.DOMAIN_ADMIN_PASSWORD);
    assert.equal(await da.locator('nav >> text=Filter servers').count(), 0);
    b.allowConsoleError(/status of 403/);
    const resp = await da.goto('/console/filters/servers');
    assert.equal(resp.status(), 403);
    const api = await da.request.get('/api/v1/filter-servers');
    assert.equal(api.status(), 403);
    await da.close();
  });
});
