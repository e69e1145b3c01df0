// The domain lifecycle in the console: a system admin adds an alias domain (shown on the
// DNS page too), transfers OTHER_DOMAIN from its admin to DOMAIN's admin (the previous
// admin gets 404 at once, the new one sees it), deletes it after typing its name (its
// user can no longer sign in; it is listed apart under Deleted domains) and restores it
// (the user signs in again). The domain admin's view shows alias domains read-only.
import { run, env, login, expectText, expectNoText, submit, click, cli, assert } from '../lib.mjs';

run(async (b) => {
  const admin = await b.page();
  await login(admin, env.ADMIN_USER, env.ADMIN_PASSWORD);
  const other = env.OTHER_DOMAIN;

  await b.step('add an alias domain; its records are on the DNS page', async () => {
    await admin.goto(`/console/domains/${other}`);
    await click(admin, '#domain-life');
    await submit(admin, '#add-alias-domain', { name: 'alias-of-other.test' });
    await expectText(admin, 'Alias domain added.');
    await expectText(admin, 'alias-of-other.test', { within: '#alias-domains' });
    assert.match(cli('domain', 'alias', 'list', other), /alias-of-other\.test/);
    await admin.goto(`/console/domains/${other}/dns`);
    await expectText(admin, '_dmarc.alias-of-other.test', { within: '#dns' });
  });

  await b.step('transfer the domain: the previous admin loses it at once', async () => {
    const prev = await b.page();
    await login(prev, env.OTHER_ADMIN, env.OTHER_ADMIN_PASSWORD);
    await expectText(prev, other, { within: '#domains' });

    await admin.goto(`/console/domains/${other}/admins`);
    await expectText(admin, env.OTHER_ADMIN, { within: '#domain-admins' });
    await submit(admin, '#set-admins', { admins: env.DOMAIN_ADMIN });
    await expectText(admin, 'Administrators saved.');
    await expectText(admin, env.DOMAIN_ADMIN, { within: '#domain-admins' });
    await expectNoText(admin, env.OTHER_ADMIN, { within: '#domain-admins' });
    assert.ok(b.dialogs.some((d) => d.includes(other)), 'no confirmation dialog was shown');

    b.allowConsoleError(/status of 404/);
    const r = await prev.goto(`/console/domains/${other}`);
    assert.equal(r.status(), 404);
    await expectNoText(prev, env.OTHER_USER);
    const api = await prev.request.get(`/api/v1/domains/${other}/accounts`);
    assert.equal(api.status(), 404);

    const next = await b.page();
    await login(next, env.DOMAIN_ADMIN, env.DOMAIN_ADMIN_PASSWORD);
    await expectText(next, other, { within: '#domains' });
    // A domain admin sees the alias domains, without the system admin's forms.
    await next.goto(`/console/domains/${other}/admins`);
    await expectText(next, 'alias-of-other.test', { within: '#alias-domains' });
    assert.equal(await next.locator('#set-admins, #add-alias-domain').count(), 0);
  });

  await b.step('delete after typing the name: listed apart, its user refused', async () => {
    await admin.goto(`/console/domains/${other}`);
    b.allowConsoleError(/status of 400/);
    await submit(admin, '#delete-domain', { confirm: 'wrong.test', force: true });
    await expectText(admin, /confirmation/i, { within: '.error' });
    await submit(admin, '#delete-domain', { confirm: other, force: true });
    await expectText(admin, 'Domain deleted.');
    await expectNoText(admin, other, { within: '#domains' });
    await expectText(admin, other, { within: '#deleted-domains' });
    assert.match(cli('domain', 'list', '--deleted'), new RegExp(other.replace('.', '\\.')));

    const bob = await b.page();
    b.allowConsoleError(/status of 403/);
    await bob.goto('/login');
    await bob.fill('input[name=login]', env.OTHER_USER);
    await bob.fill('input[name=password]', env.OTHER_USER_PASSWORD);
    await bob.click('button[type=submit]');
    await expectText(bob, /disabled/i);
    assert.ok(bob.url().includes('/login'), `signed in to a deleted domain: ${bob.url()}`);
  });

  await b.step('restore: back as it was, the user signs in again', async () => {
    await admin.goto('/console/');
    await click(admin, `#deleted-domains tr:has-text("${other}") button`);
    await expectText(admin, 'Domain restored.');
    await admin.goto('/console/');
    await expectText(admin, other, { within: '#domains' });
    await expectNoText(admin, other, { within: '#deleted-domains' });
    const bob = await b.page();
    await login(bob, env.OTHER_USER, env.OTHER_USER_PASSWORD);
    assert.match(cli('domain', 'alias', 'list', other), /alias-of-other\.test/);
  });

  await b.step('the audit log has the lifecycle', async () => {
    await click(admin, 'nav >> text=Audit log');
    for (const a of ['domain.restore', 'domain.delete', 'domain.admins', 'domain.alias.create']) {
      await expectText(admin, a, { within: '#audit' });
    }
  });
});
