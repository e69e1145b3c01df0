// A domain admin manages the users and aliases of its own domain, and cannot see or
// change another domain: its URLs answer 404 and its crafted form posts are refused by
// the server (not only hidden), with nothing changed. Without JavaScript the same pages
// work as plain forms.
import { run, env, login, expectText, expectNoText, submit, click, postForm, cli, assert } from '../lib.mjs';

run(async (b) => {
  const page = await b.page();
  await login(page, env.DOMAIN_ADMIN, env.DOMAIN_ADMIN_PASSWORD);

  await b.step('sees only its own domain, offers no domain creation', async () => {
    await expectText(page, env.DOMAIN, { within: '#domains' });
    await expectNoText(page, env.OTHER_DOMAIN);
    assert.equal(await page.locator('#add-domain').count(), 0);
  });

  await b.step('adds a user and an alias', async () => {
    await click(page, `#domains >> text=${env.DOMAIN}`);
    await submit(page, '#add-user', { address: 'dave', password: 'dave-pw-123456' });
    await expectText(page, 'Account created.');
    await click(page, `a:has-text("Back to ${env.DOMAIN}")`);
    await submit(page, '#add-alias', { source: `team@${env.DOMAIN}`, targets: `dave@${env.DOMAIN}, ${env.USER}` });
    await expectText(page, 'Alias created.');
    await expectText(page, `team@${env.DOMAIN}`, { within: '#aliases' });
  });

  await b.step('edits and deletes the user', async () => {
    await click(page, `#accounts >> text=dave@${env.DOMAIN}`);
    await submit(page, '#set-quota', { quota: '100M' });
    await expectText(page, '100M', { within: '#account-info' });
    await page.locator('#set-services input[value=imap]').setChecked(false);
    await submit(page, '#set-services');
    await expectText(page, 'imap', { within: '#account-info' });
    await submit(page, '#delete-account', { confirm: `dave@${env.DOMAIN}` });
    await expectText(page, 'Account deleted.');
  });

  await b.step('a role above its own is refused', async () => {
    await click(page, `#accounts >> text=${env.USER}`);
    assert.equal(await page.locator('#set-role option[value=system-admin]').count(), 0);
    b.allowConsoleError(/status of 403/);
    const r = await postForm(page, page.url().replace(/\?.*/, '') + '/role', { role: 'system-admin' });
    assert.equal(r.status(), 403);
    assert.match(cli('user', 'show', env.USER), /\buser\b/);
  });

  await b.step("another domain's pages are not found", async () => {
    b.allowConsoleError(/status of 404/);
    const r = await page.goto(`/console/domains/${env.OTHER_DOMAIN}`);
    assert.equal(r.status(), 404);
    await expectNoText(page, env.OTHER_USER);
  });

  await b.step("another domain's forms are refused by the server", async () => {
    await page.goto('/console/');
    const other = JSON.parse(cli('user', 'list', env.OTHER_DOMAIN, '--json'));
    const bob = other.find((u) => u.address === env.OTHER_USER);
    assert.ok(bob, 'fixture user of the other domain');
    const tries = [
      [`/console/domains/${env.OTHER_DOMAIN}/update`, { enabled: 'false', max_users: '1' }],
      [`/console/domains/${env.OTHER_DOMAIN}/accounts`, { address: 'evil', password: 'evil-pw-123456' }],
      [`/console/domains/${env.OTHER_DOMAIN}/aliases`, { source: `evil@${env.OTHER_DOMAIN}`, targets: env.DOMAIN_ADMIN }],
    ];
    const list = cli('user', 'list', env.OTHER_DOMAIN);
    for (const [url, form] of tries) {
      const r = await postForm(page, url, form);
      assert.equal(r.status(), 404, `${url}: ${r.status()}`);
    }
    assert.equal(cli('user', 'list', env.OTHER_DOMAIN), list, 'the other domain changed');
    assert.ok(!cli('alias', 'list', env.OTHER_DOMAIN).includes('evil'), 'alias created in the other domain');
    const dom = [].concat(JSON.parse(cli('domain', 'show', env.OTHER_DOMAIN, '--json')))[0];
    assert.equal(dom.enabled, true, 'the other domain was disabled');
    assert.equal(dom.max_users, 0, 'the other domain got a user limit');
  });

  await b.step('the same pages work without JavaScript', async () => {
    const nojs = await b.page({ javaScriptEnabled: false });
    await login(nojs, env.DOMAIN_ADMIN, env.DOMAIN_ADMIN_PASSWORD);
    await click(nojs, `#domains >> text=${env.DOMAIN}`);
    await submit(nojs, '#add-user', { address: 'erin', password: 'erin-pw-123456' });
    await expectText(nojs, 'Account created.');
    await submit(nojs, '#toggle-enabled');
    await expectText(nojs, 'no', { within: '#account-info' });
    await submit(nojs, '#delete-account', { confirm: `erin@${env.DOMAIN}` });
    await expectText(nojs, 'Account deleted.');
  });
});
