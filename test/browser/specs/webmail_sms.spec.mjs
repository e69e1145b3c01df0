// SMS in a real browser, through a gateway of our own: the spec serves the operator's SMS
// gateway (node's http module) on SPARE_ADDR, where the node's [sms] gateway_url points
// (webmail_sms.toml), and records every request. example.test is on a plan with SMS,
// other.test on none.
//   - A user without SMS in the plan sees no SMS link and no "Send as SMS".
//   - The user saves a rule "subject contains urgent"; mail delivered over SMTP with a
//     matching subject gives one SMS to the rule's number with sender and subject; mail
//     that does not match gives none.
//   - "Send as SMS" from compose reaches the gateway (also with an attachment picked,
//     which the page's upload script must not turn into an e-mail).
//   - The domain admin's console shows the SMS per user and per day.
import { createServer } from 'node:http';
import { run, env, login, expectText, expectNoText, assert, goto, cli, click, smtpSend, until } from '../lib.mjs';

// gateway records the SMS requests it is sent and answers 200.
function gateway() {
  const got = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      let msg = null;
      try { msg = JSON.parse(body); } catch { /* recorded as null: the assertions say so */ }
      got.push({ method: req.method, url: req.url, auth: req.headers.authorization, type: req.headers['content-type'], msg });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  const [host, port] = env.SPARE_ADDR.split(':');
  return new Promise((ok, fail) => {
    srv.once('error', fail);
    srv.listen(Number(port), host, () => ok({ got, close: () => srv.close() }));
  });
}

// mail is a message from boss@remote.test to the user with subject, for smtpSend.
function mail(subject) {
  return { from: 'boss@remote.test', to: env.USER, data: `From: Boss <boss@remote.test>\nTo: ${env.USER}\nSubject: ${subject}\nDate: ${new Date().toUTCString()}\n` +
    `Message-ID: <${Math.random().toString(36).slice(2)}@remote.test>\n\nBody of ${subject}.\n` };
}

// inInbox waits until the user's INBOX lists subject (the page reloads).
async function inInbox(page, subject) {
  await until(`"${subject}" in INBOX`, async () => {
    await goto(page, '/mail/');
    return (await page.locator('table.messages').innerText()).includes(subject);
  });
}

run(async (b) => {
  const gw = await gateway();
  const phone = '+41446681800';
  cli('plan', 'add', 'texting', '--sms');
  cli('plan', 'assign', env.DOMAIN, 'texting');

  await b.step('no SMS link or button where the plan has no SMS', async () => {
    const bob = await b.page();
    await login(bob, env.OTHER_USER, env.OTHER_USER_PASSWORD, { next: '/mail/' });
    await expectText(bob, 'INBOX');
    assert.equal(await bob.locator('#sms-link').count(), 0, 'SMS link shown');
    await goto(bob, '/mail/compose');
    await bob.locator('#send').waitFor();
    assert.equal(await bob.locator('#send-sms').count(), 0, 'Send as SMS shown');
  });

  const page = await b.page();
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });

  await b.step('the user saves a notification rule on the SMS page', async () => {
    await click(page, '#sms-link');
    assert.match(page.url(), /\/mail\/sms$/);
    await page.fill('#sms-phone', '+41 44 668 18 00');
    await page.fill('#sms-subject', 'urgent');
    await page.locator('#sms-enabled').setChecked(true);
    await click(page, '#sms-save');
    await expectText(page, 'Notification rule saved.');
    assert.equal(await page.inputValue('#sms-phone'), phone);
    assert.equal(await page.inputValue('#sms-subject'), 'urgent');
  });

  const notifications = () => gw.got.filter((g) => g.msg && g.msg.to === phone);
  await b.step('matching mail sends one SMS, other mail none', async () => {
    await smtpSend(mail('urgent: disk full'));
    await until('the first notification', () => notifications().length >= 1);
    await smtpSend(mail('lunch on friday?'));
    await inInbox(page, 'lunch on friday?');
    // A later match proves the notifier worked past the mail that did not match.
    await smtpSend(mail('Urgent again'));
    await until('the second notification', () => notifications().length >= 2);
    await inInbox(page, 'Urgent again');
    const texts = notifications().map((g) => g.msg.text);
    assert.deepEqual(texts.slice().sort(), ['Mail from Boss <boss@remote.test>: Urgent again',
      'Mail from Boss <boss@remote.test>: urgent: disk full'], `notifications ${JSON.stringify(texts)}`);
    for (const g of gw.got) {
      assert.equal(g.method, 'POST');
      assert.equal(g.url, '/v1/sms');
      assert.equal(g.auth, 'Bearer gw-test-token');
      assert.match(g.type, /^application\/json/);
    }
    assert.ok(!gw.got.some((g) => JSON.stringify(g.msg).includes('lunch')), 'the mail that did not match sent an SMS');
  });

  await b.step('"Send as SMS" from compose reaches the gateway', async () => {
    await goto(page, '/mail/compose');
    await page.fill('#to', '+1 555 0100');
    await page.fill('#subject', 'ignored');
    await page.fill('#body', 'Running late, 10 minutes.');
    await Promise.all([page.waitForURL(/\/mail\/sms\?done=sent/), page.click('#send-sms')]);
    await expectText(page, 'SMS sent.');
    await until('the SMS', () => gw.got.some((g) => g.msg && g.msg.to === '+15550100'));
    const sent = gw.got.filter((g) => g.msg && g.msg.to === '+15550100');
    assert.deepEqual(sent.map((g) => g.msg.text), ['Running late, 10 minutes.']);
  });

  await b.step('"Send as SMS" with an attachment picked still sends an SMS, not mail', async () => {
    await goto(page, '/mail/compose');
    await page.fill('#to', '+1 555 0101');
    await page.fill('#subject', 'not an e-mail');
    await page.fill('#body', 'Photo follows by mail.');
    await page.setInputFiles('#attachment', { name: 'photo.txt', mimeType: 'text/plain', buffer: Buffer.from('pixels') });
    await Promise.all([page.waitForURL(/\/mail\/sms\?done=sent/), page.click('#send-sms')]);
    await expectText(page, 'SMS sent.');
    await until('the SMS', () => gw.got.some((g) => g.msg && g.msg.to === '+15550101'));
    // Nothing was sent as mail: the Sent folder is still empty (the mail API, same session).
    const resp = await page.request.get('/api/v1/mail/mailboxes');
    assert.equal(resp.status(), 200);
    const sentBox = (await resp.json()).items.find((m) => m.special_use === '\\Sent');
    assert.ok(sentBox, 'no Sent folder');
    assert.equal(sentBox.messages, 0, 'a message was sent as mail');
  });

  await b.step('the domain admin sees the SMS per user and per day', async () => {
    const da = await b.page();
    await login(da, env.DOMAIN_ADMIN, env.DOMAIN_ADMIN_PASSWORD);
    await goto(da, `/console/domains/${env.DOMAIN}`);
    await click(da, '#domain-sms');
    await expectText(da, `SMS statistics: ${env.DOMAIN}`);
    const user = da.locator('#sms-per-user tbody tr', { hasText: env.USER });
    assert.deepEqual(await user.locator('td').allInnerTexts(), [env.USER, '2', '2', '4']);
    // Per day (UTC; two rows only if the spec ran across midnight): the same sums.
    const days = await da.locator('#sms-per-day tbody tr').allInnerTexts();
    const sum = [0, 0, 0];
    for (const row of days) {
      const [day, ...n] = row.split('\t');
      assert.match(day, /^\d{4}-\d\d-\d\d$/, `per day ${JSON.stringify(days)}`);
      n.forEach((v, i) => { sum[i] += Number(v); });
    }
    assert.deepEqual(sum, [2, 2, 4], `per day ${JSON.stringify(days)}`);
    await expectText(da, /4 SMS sent, 2 notifications of new mail and 2 sent from the webmail/, { within: '#sms-total' });
  });

  await b.step("another domain's admin cannot open them", async () => {
    b.allowConsoleError(/status of 404/);
    const oa = await b.page();
    await login(oa, env.OTHER_ADMIN, env.OTHER_ADMIN_PASSWORD);
    const resp = await oa.goto(`/console/domains/${env.DOMAIN}/sms`);
    assert.equal(resp.status(), 404);
    await expectNoText(oa, env.USER);
  });
  gw.close();
});
