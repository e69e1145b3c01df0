// Webmail display preferences in a real browser: the Chinese UI (chosen, and from the
// browser's Accept-Language); dates in the chosen time zone (the browser's zone offered);
// a theme that persists across reloads; remote images always allowed for one sender —
// the beacon sees requests only for that sender's message, never before the allow; the
// list and reading pane layout.
import { run, env, login, expectText, assert, goto, beacon, smtpSend, until } from '../lib.mjs';

const htmlMail = (from, subject, src) => ({
  from, to: env.USER, data: `From: ${from}
To: ${env.USER}
Subject: ${subject}
Date: Mon, 02 Mar 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<p>Body of ${subject}</p><img src="${src}" alt="pixel">
` });

// savePrefs chooses values on /mail/prefs and saves them.
async function savePrefs(page, choices) {
  await goto(page, '/mail/prefs');
  for (const [sel, v] of Object.entries(choices)) {
    if ((await page.locator(sel).evaluate((e) => e.tagName)) === 'SELECT') await page.selectOption(sel, v);
    else await page.fill(sel, v);
  }
  await Promise.all([page.waitForURL(/saved=display/), page.click('#display-save')]);
}

// plusHours adds h hours to a "YYYY-MM-DD HH:MM" time.
function plusHours(s, h) {
  const d = new Date(s.replace(' ', 'T') + ':00Z');
  return new Date(d.getTime() + h * 3600e3).toISOString().slice(0, 16).replace('T', ' ');
}

run(async (b) => {
  const bk = await beacon();
  const B = `http://127.0.0.1:${bk.port}`;
  await b.step('mail arrives over SMTP', async () => {
    await smtpSend([htmlMail('news@sender.test', 'From the trusted sender', `${B}/trusted.gif`),
      htmlMail('other@sender.test', 'From another sender', `${B}/other.gif`)]);
  });
  // The browser is in Tokyo: the Preferences page offers that zone.
  const page = await b.page({ timezoneId: 'Asia/Tokyo' });
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });
  await expectText(page, 'From another sender');

  await b.step('Chinese UI strings when chosen', async () => {
    await savePrefs(page, { '#lang': 'zh-CN' });
    await expectText(page, '显示偏好已保存。');
    await goto(page, '/mail/');
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal((await page.textContent('#compose-link')).trim(), '写邮件');
    await expectText(page, '收件箱', { within: 'nav.folders' });
    await expectText(page, '标为已读', { within: '#list-form' });
    await savePrefs(page, { '#lang': 'en' });
    await goto(page, '/mail/');
    assert.equal((await page.textContent('#compose-link')).trim(), 'Compose');
  });

  await b.step('Chinese from the browser language until one is chosen', async () => {
    const bob = await b.page({ locale: 'zh-CN' });
    await login(bob, env.OTHER_USER, env.OTHER_USER_PASSWORD, { next: '/mail/' });
    assert.equal((await bob.textContent('#compose-link')).trim(), '写邮件');
    await bob.close();
  });

  await b.step('dates in the chosen time zone', async () => {
    await goto(page, '/mail/');
    const utcList = (await page.locator('tr.row', { hasText: 'From the trusted sender' }).locator('td.date').textContent()).trim();
    await page.click('text=From the trusted sender');
    assert.equal((await page.textContent('#date')).trim(), 'Mon, 2026-03-02 10:00 UTC');
    await goto(page, '/mail/prefs');
    await page.click('#tz-use'); // the browser's zone, offered
    assert.equal(await page.inputValue('#tz'), 'Asia/Tokyo');
    await Promise.all([page.waitForURL(/saved=display/), page.click('#display-save')]);
    await goto(page, '/mail/');
    const tokyoList = (await page.locator('tr.row', { hasText: 'From the trusted sender' }).locator('td.date').textContent()).trim();
    assert.equal(tokyoList, plusHours(utcList, 9));
    await page.click('text=From the trusted sender');
    assert.equal((await page.textContent('#date')).trim(), 'Mon, 2026-03-02 19:00 JST');
  });

  await b.step('a theme persists across reloads', async () => {
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await savePrefs(page, { '#theme': 'dark' });
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    assert.equal(await bg(), 'rgb(22, 25, 29)');
    await page.reload();
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    await goto(page, '/mail/');
    assert.equal(await bg(), 'rgb(22, 25, 29)');
    await savePrefs(page, { '#theme': 'contrast' });
    await page.reload();
    assert.equal(await page.getAttribute('html', 'data-theme'), 'contrast');
    assert.equal(await bg(), 'rgb(0, 0, 0)');
    await savePrefs(page, { '#theme': 'light' });
    await goto(page, '/mail/');
    assert.equal(await bg(), 'rgb(255, 255, 255)');
  });

  await b.step('remote images always allowed for one sender only', async () => {
    await goto(page, '/mail/');
    await page.click('text=From the trusted sender');
    await page.frameLocator('#body-frame').getByText('Body of From the trusted sender').waitFor();
    await expectText(page, 'remote image', { within: '#images-blocked' });
    await new Promise((r) => setTimeout(r, 1000)); // time for anything that would fire
    assert.deepEqual(bk.hits, [], `beacon hit before the allow: ${bk.hits}`);
    await Promise.all([page.waitForURL(/\/mail\/m\//), page.click('#allow-sender')]);
    await expectText(page, 'always shown', { within: '#images-sender-allowed' });
    await until('the trusted sender\'s image', () => bk.hits.includes('/trusted.gif'));
    // Another message of the same sender would load too; another sender's does not.
    await goto(page, '/mail/');
    await page.click('text=From another sender');
    await page.frameLocator('#body-frame').getByText('Body of From another sender').waitFor();
    await expectText(page, 'remote image', { within: '#images-blocked' });
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(!bk.hits.includes('/other.gif'), `the other sender's image loaded: ${bk.hits}`);
    // The list is editable in Preferences; emptied, the images are blocked again.
    await goto(page, '/mail/prefs');
    assert.equal((await page.inputValue('#senders')).trim(), 'news@sender.test');
    await page.fill('#senders', '');
    await Promise.all([page.waitForURL(/saved=senders/), page.click('#senders-save')]);
    const n = bk.hits.length;
    await goto(page, '/mail/');
    await page.click('text=From the trusted sender');
    await expectText(page, 'remote image', { within: '#images-blocked' });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(bk.hits.length, n, `images loaded after the sender was removed: ${bk.hits}`);
  });

  await b.step('list and reading pane side by side', async () => {
    await savePrefs(page, { '#layout': 'pane' });
    await goto(page, '/mail/');
    const list = page.url();
    await expectText(page, 'Select a message to read it here.', { within: '#reading-pane' });
    await page.click('table.messages >> text=From another sender');
    await expectText(page, 'From another sender', { within: '#reading-pane h1' });
    await page.frameLocator('#reading-pane iframe.body').getByText('Body of From another sender').waitFor();
    assert.equal(page.url(), list, 'the list stays open');
    assert.ok(await page.locator('table.messages').isVisible());
    await savePrefs(page, { '#layout': 'list' });
    await goto(page, '/mail/');
    assert.equal(await page.locator('#reading-pane').count(), 0);
  });
  bk.srv.close();
});
