// Webmail settings in a real browser: the user sets an auto-reply and a filter rule on
// /mail/settings; a message then sent to them from another account's webmail is filed
// by the rule (Archive), and the sender gets the auto-reply once. A hostile auto-reply
// subject (a line break) is refused with a message, and a forged CSRF token is refused.
import { run, env, login, expectText, expectNoText, assert, goto, postForm } from '../lib.mjs';

run(async (b) => {
  const page = await b.page();
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });

  await b.step('set an auto-reply and a rule', async () => {
    await page.click('#settings-link');
    await expectText(page, 'Auto-reply');
    await page.check('#vac-enabled');
    await page.fill('#vac-subject', 'Out of office "until" Monday');
    await page.fill('#vac-body', 'I am away; back on Monday.\nRegards, Alice');
    await page.fill('#vac-days', '2');
    await page.click('#vac-save');
    await expectText(page, 'Auto-reply saved.');
    assert.equal(await page.inputValue('#vac-subject'), 'Out of office "until" Monday');

    await page.fill('#rule-name', 'invoices');
    await page.selectOption('#c0-field', 'subject');
    await page.selectOption('#c0-op', 'contains');
    await page.fill('#c0-value', 'invoice');
    await page.selectOption('#a0-type', 'fileinto');
    await page.selectOption('#a0-mailbox', 'Archive');
    await page.click('#rule-save');
    await expectText(page, 'Rule saved.');
    await expectText(page, 'move to Archive', { within: 'ol.rules' });
  });

  await b.step('bad input is refused, nothing changed', async () => {
    const res = await postForm(page, '/mail/settings', { op: 'vacation', enabled: '1', subject: 'x\r\nBcc: victim@evil.test', body: 'y' });
    assert.equal(res.status(), 422);
    const forged = await postForm(page, '/mail/settings', { csrf_token: 'forged', op: 'spam', level: 'off' });
    assert.equal(forged.status(), 403);
    await goto(page, '/mail/settings');
    assert.equal(await page.inputValue('#vac-subject'), 'Out of office "until" Monday');
  });

  await b.step('a delivered message is filed by the rule; the sender gets the auto-reply once', async () => {
    await page.goto('about:blank');
    const bob = await b.page();
    await login(bob, env.OTHER_USER, env.OTHER_USER_PASSWORD, { next: '/mail/' });
    for (const subject of ['Invoice 42', 'Invoice 43']) {
      await goto(bob, '/mail/compose');
      await bob.fill('#to', env.USER);
      await bob.fill('#subject', subject);
      await bob.fill('#body', 'Please pay.\n');
      await bob.click('#send');
      await expectText(bob, 'Message sent.');
    }
    for (let i = 0; ; i++) {
      await goto(bob, '/mail/');
      try {
        await expectText(bob, 'Out of office "until" Monday', { within: 'table.messages', timeout: 5000 });
        break;
      } catch (e) {
        if (i >= 5) throw e;
      }
    }
    const replies = await bob.locator('tr.row', { hasText: 'Out of office' }).count();
    assert.equal(replies, 1, 'one auto-reply for two messages within the days');

    await goto(page, '/mail/');
    await expectNoText(page, 'Invoice 42', { within: 'main' });
    await page.click('nav.folders >> text=Archive');
    await expectText(page, 'Invoice 42');
    await expectText(page, 'Invoice 43');
  });
});
