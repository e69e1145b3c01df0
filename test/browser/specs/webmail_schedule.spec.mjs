// Scheduled send in a real browser: a user schedules a message a few seconds ahead with
// compose's "Send later"; it is listed under Scheduled and then arrives over IMAP
// (Python's imaplib) in an account of another domain, and leaves the list. A message
// cancelled before its time never arrives (a later sentinel proves the runner passed its
// time); "Edit" takes a message off the schedule and opens it as a draft; a time in the
// past and a forged CSRF token are refused.
import { run, env, login, expectText, expectNoText, assert, goto, postForm, imapSubjects, until } from '../lib.mjs';

// at is the datetime-local value (UTC: the user has chosen no time zone) ms from now.
const at = (ms) => new Date(Date.now() + ms).toISOString().slice(0, 19);

// schedule fills compose and schedules it at when; it waits for the Scheduled page.
async function schedule(page, subject, when) {
  await goto(page, '/mail/compose');
  await page.fill('#to', env.OTHER_USER);
  await page.fill('#subject', subject);
  await page.fill('#body', `Body of ${subject}.`);
  await page.click('#send-later summary');
  await page.fill('#send-at', when);
  await Promise.all([page.waitForURL(/\/mail\/scheduled\?done=scheduled/), page.click('#schedule-send')]);
  await expectText(page, 'Message scheduled.');
  await expectText(page, subject, { within: '#scheduled' });
}

run(async (b) => {
  const page = await b.page();
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });
  const bob = () => imapSubjects(env.OTHER_USER, env.OTHER_USER_PASSWORD);

  await b.step('compose offers Send later in UTC (no zone chosen)', async () => {
    await goto(page, '/mail/compose');
    await page.click('#send-later summary');
    await expectText(page, '(UTC)', { within: '#send-later' });
  });

  await b.step('a message scheduled 3 s ahead is listed, then arrives over IMAP', async () => {
    await schedule(page, 'Scheduled hello', at(3000));
    await expectText(page, 'pending', { within: '#scheduled' });
    await until('the scheduled message over IMAP', () => bob().includes('Scheduled hello'));
    await until('the list to empty', async () => {
      await goto(page, '/mail/scheduled');
      return (await page.locator('#scheduled-empty').count()) === 1;
    });
    assert.equal(bob().filter((s) => s === 'Scheduled hello').length, 1, 'sent once');
  });

  await b.step('the sent message has a copy in Sent', async () => {
    await goto(page, '/mail/');
    await page.click('nav.folders a:has-text("Sent")');
    await expectText(page, 'Scheduled hello');
  });

  await b.step('cancel before its time: never sent', async () => {
    await schedule(page, 'Cancelled message', at(30000));
    const row = page.locator('#scheduled tr', { hasText: 'Cancelled message' });
    await Promise.all([page.waitForURL(/done=cancelled/), row.locator('.s-cancel').click()]);
    await expectText(page, 'Scheduled message cancelled.');
    await expectNoText(page, 'Cancelled message', { within: '#scheduled' });
    // A sentinel due after the cancelled time: once it arrived, the runner has passed
    // that time, and items go soonest first.
    await schedule(page, 'Sentinel after cancel', at(31000));
    await until('the sentinel over IMAP', () => bob().includes('Sentinel after cancel'));
    assert.ok(!bob().includes('Cancelled message'), 'the cancelled message arrived');
  });

  await b.step('edit: off the schedule and open as a draft', async () => {
    await schedule(page, 'Edit me later', at(3600 * 1000));
    const row = page.locator('#scheduled tr', { hasText: 'Edit me later' });
    await Promise.all([page.waitForURL(/\/mail\/compose\?draft=/), row.locator('.s-edit').click()]);
    assert.equal(await page.inputValue('#subject'), 'Edit me later');
    assert.equal(await page.inputValue('#to'), env.OTHER_USER);
    await goto(page, '/mail/scheduled');
    await expectNoText(page, 'Edit me later', { within: '#scheduled' });
  });

  await b.step('a time in the past is refused; a forged token too', async () => {
    await goto(page, '/mail/compose');
    await page.fill('#to', env.OTHER_USER);
    await page.fill('#subject', 'Too late');
    await page.click('#send-later summary');
    await page.fill('#send-at', at(-3600 * 1000));
    b.allowConsoleError(/status of 422/);
    await Promise.all([page.waitForLoadState(), page.click('#schedule-send')]);
    await expectText(page, 'has passed');
    await goto(page, '/mail/scheduled');
    const r = await postForm(page, '/mail/scheduled', { csrf_token: 'forged', op: 'cancel', id: '1' });
    assert.equal(r.status(), 403);
  });
});
