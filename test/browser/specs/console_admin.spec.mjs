// The system admin's console with htmx: create a domain, set its limits and services,
// add a user, find it in the account search, disable it, reset its password, set its
// quota and role, delete it and the domain after typed confirmations; the audit log
// records it all.
import { run, env, login, expectText, expectNoText, submit, click, cli, assert } from '../lib.mjs';

run(async (b) => {
  const page = await b.page();
  await login(page, env.ADMIN_USER, env.ADMIN_PASSWORD);

  await b.step('create a domain', async () => {
    await submit(page, '#add-domain', { name: 'new.test' });
    await expectText(page, 'Domain created.');
    await page.waitForURL(/\/console\/domains\/new\.test/);
    await expectText(page, 'Domain new.test', { within: 'h1' });
  });

  await b.step('set limits and services', async () => {
    // pop3 off: its box unticked.
    await page.locator('#domain-settings input[name=service][value=pop3]').setChecked(false);
    await submit(page, '#domain-settings', { max_users: '3', max_quota: '2G', max_message: '20M' });
    await expectText(page, 'Domain updated.');
    await page.goto('/console/');
    const row = page.locator('#domains tr', { hasText: 'new.test' });
    await expectText(row, '3');
    await expectText(row, '2G');
    await expectText(row, 'pop3');
  });

  await b.step('add a user', async () => {
    await click(page, '#domains >> text=new.test');
    await submit(page, '#add-user', { address: 'carol', password: 'carol-pw-123456', quota: '1G' });
    await expectText(page, 'Account created.');
    await expectText(page, 'Account carol@new.test', { within: 'h1' });
  });

  await b.step('search accounts (typing filters with htmx)', async () => {
    await click(page, 'nav >> text=Accounts');
    await expectText(page, env.USER, { within: '#accounts' });
    await page.fill('#search input[name=q]', 'carol');
    await page.waitForFunction(() => !document.querySelector('#accounts').innerText.includes('alice@'));
    await expectText(page, 'carol@new.test', { within: '#accounts' });
    await click(page, '#accounts >> text=carol@new.test');
    await expectText(page, 'Account carol@new.test', { within: 'h1' });
  });

  await b.step('disable, reset password, quota, role', async () => {
    await click(page, '#toggle-enabled button');
    await expectText(page, 'Account updated.');
    await expectText(page, 'no', { within: '#account-info' });
    await click(page, '#toggle-enabled button');
    await expectText(page, 'Account updated.');
    await submit(page, '#reset-password', { password: 'carol-new-pw-789' });
    await expectText(page, 'Account updated.');
    await submit(page, '#set-quota', { quota: '500M' });
    await expectText(page, '500M', { within: '#account-info' });
    await submit(page, '#set-role', { role: 'domain-admin' });
    await expectText(page, 'domain-admin', { within: '#account-info' });
    // The new password signs in (a second browser).
    const other = await b.page();
    await login(other, 'carol@new.test', 'carol-new-pw-789');
    await expectText(other, 'new.test', { within: '#domains' });
  });

  await b.step('a quota beyond the domain limit is refused and shown', async () => {
    b.allowConsoleError(/status of 422/);
    await submit(page, '#set-quota', { quota: '5G' });
    await expectText(page, /limit/i, { within: '.error' });
    await expectText(page, '500M', { within: '#account-info' });
  });

  await b.step('delete the user after typing its address', async () => {
    b.allowConsoleError(/status of 400/);
    await submit(page, '#delete-account', { confirm: 'wrong@new.test' });
    await expectText(page, /confirmation/i, { within: '.error' });
    await submit(page, '#delete-account', { confirm: 'carol@new.test' });
    await expectText(page, 'Account deleted.');
    await expectNoText(page, 'carol@new.test', { within: '#accounts' });
  });

  await b.step('delete the domain after typing its name', async () => {
    await submit(page, '#delete-domain', { confirm: 'new.test' });
    await expectText(page, 'Domain deleted.');
    await expectNoText(page, 'new.test', { within: '#domains' });
    assert.ok(!cli('domain', 'list').includes('new.test'), 'the CLI still lists new.test');
    assert.ok(b.dialogs.some((d) => d.includes('new.test')), 'no confirmation dialog was shown');
  });

  await b.step('the audit log has it all, searchable', async () => {
    await click(page, 'nav >> text=Audit log');
    await expectText(page, 'domain.delete', { within: '#audit' });
    await page.fill('#audit-search input[name=action]', 'account.create');
    await page.click('#audit-search button');
    await page.waitForFunction(() => !document.querySelector('#audit').innerText.includes('domain.delete'));
    await expectText(page, 'carol@new.test', { within: '#audit' });
  });
});
