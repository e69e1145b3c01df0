// Scheduled send in a real browser: a user schedules a message a few seconds ahead with
// compose's "Send later"; it is listed under Scheduled and then arrives over IMAP
// (Python's imaplib) in an account of another domain, and leaves the list. A message
// cancelled before its time never arrives (a later sentinel proves the runner passed its
// time); "Edit" takes a message off the schedule and opens it as a draft; a time in the
// past and a forged CSRF token are refused.
import { execFileSync } from 'node:child_process';
import { run, env, login, expectText, expectNoText, assert, goto, postForm } from '../lib.mjs';

// imapSubjects lists the subjects in user's INBOX, read over IMAPS with Python's imaplib.
function imapSubjects(user, password) {
  const py = `
import imaplib, ssl, sys, email
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
host, port = sys.argv[1].rsplit(':', 1)
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=20)
m.login(sys.argv[2], sys.argv[3])
m.select('INBOX')
typ, data = m.search(None, 'ALL')
for i in data[0].split():
    typ, msg = m.fetch(i, '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    print(email.message_from_bytes(msg[0][1])['Subject'])
m.logout()
`;
  return execFileSync('python3', ['-c', py, env.IMAPS_ADDR, user, password], { encoding: 'utf8', timeout: 30000 })
    .split('\n').filter(Boolean);
}

async function until(what, fn, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

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
