// The webmail without JavaScript (every action is a plain form), at phone width, and its
// keyboard shortcuts with JavaScript.
import { run, env, login, expectText, expectNoText, assert, goto, smtpSend } from '../lib.mjs';

run(async (b) => {
  for (const s of ['Morning update', 'Evening update']) {
    await smtpSend({ from: 'carol@sender.test', to: env.USER, data: `From: Carol <carol@sender.test>\nTo: ${env.USER}\nSubject: ${s}\n\n${s} text.\n` });
  }

  await b.step('without JavaScript: read, move, compose, send', async () => {
    const page = await b.page({ javaScriptEnabled: false, viewport: { width: 375, height: 740 } });
    await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });
    await expectText(page, 'Morning update');
    // Phone width: nothing wider than the screen.
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 375, `page is ${wide}px wide at 375`);
    await page.click('text=Morning update');
    await expectText(page, 'Morning update text.', { within: '#body-text' });
    await page.locator('form.read-actions select[name=dest]').selectOption({ label: 'Archive' });
    await page.click('form.read-actions button[value=move]');
    await expectText(page, 'Moved.');
    await expectNoText(page, 'Morning update', { within: 'table.messages' });
    await page.click('#compose-link');
    await page.fill('#to', env.OTHER_USER);
    await page.fill('#subject', 'Sent without script');
    await page.fill('#body', 'plain forms work');
    await page.click('#send');
    await expectText(page, 'Message sent.');
  });

  await b.step('keyboard shortcuts', async () => {
    const page = await b.page();
    await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });
    await expectText(page, 'Evening update');
    await page.keyboard.press('j');
    await page.keyboard.press('o');
    await expectText(page, 'Evening update text.', { within: '#body-text' });
    await page.keyboard.press('r');
    await page.waitForURL(/\/mail\/compose\?reply=/);
    assert.equal(await page.inputValue('#subject'), 'Re: Evening update');
    await goto(page, '/mail/');
    await page.keyboard.press('/');
    await page.keyboard.type('evening');
    await page.keyboard.press('Enter');
    await expectText(page, '1 result');
    await page.keyboard.press('c');
    await page.waitForURL(/\/mail\/compose$/);
  });
});
