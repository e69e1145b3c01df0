// The hosting story end to end: the system admin creates a domain, puts it on a service
// plan and gives it a domain admin; the domain admin signs in, stays within the plan,
// creates a user, imports more from a CSV file and sends a broadcast; every user finds it
// in their INBOX over IMAP (imapflow, a client we did not write).
import { run, env, login, expectText, submit, click, cli, assert, imapflowSubjects } from '../lib.mjs';

const domain = 'hosted.test';

run(async (b) => {
  const admin = await b.page();
  await login(admin, env.ADMIN_USER, env.ADMIN_PASSWORD);

  await b.step('system admin: domain, plan, domain admin', async () => {
    await submit(admin, '#add-domain', { name: domain });
    await expectText(admin, 'Domain created.');
    cli('plan', 'add', 'small', '--mailbox-quota', '100M', '--max-message-size', '10M', '--max-users', '10', '--disable', 'pop3');
    await admin.reload();
    await submit(admin, '#assign-plan', { plan: 'small' });
    await expectText(admin, 'small', { within: '#plan' });
    // The domain came within the plan.
    assert.equal(await admin.locator('#domain-settings input[name=max_quota]').inputValue(), '100M');
    await submit(admin, '#add-user', { address: 'boss', password: 'boss-pw-123456', role: 'domain-admin' });
    await expectText(admin, 'Account created.');
  });

  const da = await b.page();
  await b.step('domain admin: limits within the plan only', async () => {
    await login(da, `boss@${domain}`, 'boss-pw-123456');
    await click(da, `#domains >> text=${domain}`);
    b.allowConsoleError(/status of 422/);
    await submit(da, '#domain-limits', { max_quota: '1G' });
    await expectText(da, /beyond plan small/, { within: '.error' });
    await submit(da, '#domain-limits', { max_quota: '50M' });
    await expectText(da, 'Domain updated.');
  });

  await b.step('domain admin: a user, then a CSV import', async () => {
    await submit(da, '#add-user', { address: 'frank', password: 'frank-pw-123456', quota: '20M' });
    await expectText(da, 'Account created.');
    await click(da, `a:has-text("Back to ${domain}")`);
    await da.setInputFiles('#import-csv input[type=file]', {
      name: 'users.csv', mimeType: 'text/csv',
      buffer: Buffer.from(`address,password,quota\ngina@${domain},gina-pw-123456,10M\nhank@${domain},hank-pw-123456,\n`),
    });
    await submit(da, '#import-csv');
    await expectText(da, 'Imported 2 accounts.');
    await expectText(da, `hank@${domain}`, { within: '#accounts' });
  });

  await b.step('domain admin: broadcast', async () => {
    await submit(da, '#broadcast', { subject: 'Welcome to hosted.test', body: 'Your mailboxes are ready.\nThe admin.' });
    await expectText(da, 'Broadcast sent to 4 accounts.');
  });

  await b.step('every user has it over IMAP', async () => {
    for (const [user, pass] of [[`frank@${domain}`, 'frank-pw-123456'], [`gina@${domain}`, 'gina-pw-123456'],
      [`hank@${domain}`, 'hank-pw-123456'], [`boss@${domain}`, 'boss-pw-123456']]) {
      const subjects = await imapflowSubjects(user, pass);
      assert.deepEqual(subjects, ['Welcome to hosted.test'], `${user}: ${subjects}`);
    }
    // Another domain's users got nothing.
    assert.deepEqual(await imapflowSubjects(env.USER, env.USER_PASSWORD), []);
  });
});
