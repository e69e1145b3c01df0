// The webmail in a real browser: mail arrives over SMTP; the user lists and reads it; a
// hostile HTML message runs no script (no dialog ever opens) and fetches nothing from a
// beacon on loopback until the user allows remote images; compose with an attachment to
// a user of another domain, who finds it over IMAP (Python's imaplib) and replies from
// the webmail; move with the form and by drag and drop, delete, folders, search; a forged
// CSRF token and header injection through compose are refused.
import { run, env, login, expectText, expectNoText, assert, goto, beacon, smtpSend, imapFetch, until } from '../lib.mjs';

run(async (b) => {
  const bk = await beacon();
  const remote = `http://127.0.0.1:${bk.port}`;
  await b.step('mail arrives over SMTP', async () => {
    await smtpSend({ from: 'news@sender.test', to: env.USER, data: `From: Newsletter <news@sender.test>
To: ${env.USER}
Subject: Hostile newsletter
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<p>Hello reader</p>
<img src="${remote}/pixel.gif" alt="tracker">
<div style="background:url(${remote}/css-beacon)">styled</div>
<link rel="stylesheet" href="${remote}/sheet.css">
<img src=x onerror="alert('onerror')">
<script>alert('script')</script>
<svg onload="alert('svg')"><circle r="5"/></svg>
<a href="javascript:alert('link')">click me</a>
<iframe src="${remote}/frame"></iframe>
<form action="${remote}/steal"><input name="p"><button>go</button></form>
<meta http-equiv="refresh" content="0;url=${remote}/refresh">
` });
    await smtpSend({ from: 'carol@sender.test', to: env.USER, data: `From: Carol <carol@sender.test>
To: ${env.USER}
Subject: Quarterly numbers
Content-Type: text/plain; charset=utf-8

The quarterly numbers are in.
` });
  });

  const page = await b.page();
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });

  await b.step('list with unread counts and quota', async () => {
    await expectText(page, 'Hostile newsletter');
    await expectText(page, 'Quarterly numbers');
    await expectText(page, '2', { within: 'nav.folders a.current .unread' });
    await expectText(page, 'used', { within: '.quota' });
  });

  await b.step('hostile HTML: no script, no request until allowed', async () => {
    await page.click('text=Hostile newsletter');
    await expectText(page, 'remote image', { within: '#images-blocked' });
    const frame = page.frameLocator('#body-frame');
    await frame.getByText('Hello reader').waitFor();
    await frame.getByText('click me').waitFor();
    await new Promise((r) => setTimeout(r, 1500)); // time for anything that would fire
    assert.deepEqual(bk.hits, [], `beacon was hit before images were allowed: ${bk.hits}`);
    assert.deepEqual(b.dialogs, [], `a dialog opened: ${b.dialogs}`);
    await page.click('#show-images');
    await page.frameLocator('#body-frame').getByText('Hello reader').waitFor();
    await until('the allowed image', () => bk.hits.includes('/pixel.gif'));
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(bk.hits.filter((h) => h !== '/pixel.gif'), [], `only the image may load: ${bk.hits}`);
    assert.deepEqual(b.dialogs, [], `a dialog opened: ${b.dialogs}`);
  });

  await b.step('compose with an attachment to another domain; it arrives over IMAP', async () => {
    await page.click('#compose-link');
    await page.fill('#to', env.OTHER_USER);
    await page.fill('#subject', 'Plans for spring');
    await page.fill('#body', 'Hi Bob,\nthe plan is attached.\n');
    await page.setInputFiles('#attachment', { name: 'plan.txt', mimeType: 'text/plain', buffer: Buffer.from('step one\n') });
    await page.click('#send');
    await expectText(page, 'Message sent.');
    const raw = await until('the message over IMAP', () => imapFetch(env.OTHER_USER, env.OTHER_USER_PASSWORD, 'Plans for spring'));
    assert.match(raw, /From: alice@example\.test/);
    assert.match(raw, /filename=plan\.txt/);
    await goto(page, '/mail/');
    await page.click('nav.folders >> text=Sent');
    await expectText(page, 'Plans for spring');
  });

  await b.step('the other user replies from the webmail', async () => {
    // Alice's open folder list would reload itself when the reply arrives (live update)
    // and race the navigation below: leave it first.
    await page.goto('about:blank');
    const bob = await b.page();
    await login(bob, env.OTHER_USER, env.OTHER_USER_PASSWORD, { next: '/mail/' });
    await bob.click('text=Plans for spring');
    await expectText(bob, 'the plan is attached.');
    await expectText(bob, 'plan.txt', { within: 'ul.attachments' });
    await bob.click('#reply');
    assert.equal(await bob.inputValue('#to'), env.USER);
    assert.equal(await bob.inputValue('#subject'), 'Re: Plans for spring');
    assert.match(await bob.inputValue('#body'), /> the plan is attached\./);
    await bob.fill('#body', 'Sounds good.\n' + (await bob.inputValue('#body')));
    await bob.click('#send');
    await expectText(bob, 'Message sent.');
    // Alice's open folder list reloads itself when the reply arrives (live update), which
    // may race this navigation: look again until the INBOX shows it.
    for (let i = 0; ; i++) {
      await goto(page, '/mail/');
      try {
        await expectText(page, 'Re: Plans for spring', { timeout: 5000 });
        break;
      } catch (e) {
        if (i >= 3) throw e;
      }
    }
  });

  await b.step('move with the form, then by drag and drop', async () => {
    await goto(page, '/mail/');
    await page.locator('tr.row', { hasText: 'Quarterly numbers' }).locator('input[name=uid]').check();
    await page.locator('#list-form select[name=dest]').selectOption({ label: 'Archive' });
    await page.click('#list-form button[value=move]');
    await expectText(page, 'Moved.');
    await expectNoText(page, 'Quarterly numbers', { within: 'table.messages' });
    await page.dragAndDrop('tr.row:has-text("Hostile newsletter")', 'nav.folders a:has-text("Archive")');
    await expectText(page, 'Moved.');
    await expectNoText(page, 'Hostile newsletter', { within: 'table.messages' });
    await page.click('nav.folders >> text=Archive');
    await expectText(page, 'Quarterly numbers');
    await expectText(page, 'Hostile newsletter');
  });

  await b.step('delete to Trash, then permanently', async () => {
    await page.locator('tr.row', { hasText: 'Hostile newsletter' }).locator('input[name=uid]').check();
    await page.click('#trash-button');
    await expectText(page, 'Moved to Trash.');
    await page.click('nav.folders >> text=Trash');
    await expectText(page, 'Hostile newsletter');
    await page.locator('tr.row', { hasText: 'Hostile newsletter' }).locator('input[name=uid]').check();
    await page.click('#list-form button[value=delete]');
    await expectText(page, 'Deleted.');
    await expectText(page, 'No messages.');
  });

  await b.step('folders: create, rename, delete', async () => {
    await page.click('details.manage summary');
    await page.fill('details.manage input[name=name] >> nth=0', 'Projects');
    await page.click('details.manage button:has-text("Create")');
    await expectText(page, 'Folder created.');
    await expectText(page, 'Projects', { within: 'nav.folders ul' });
    await page.click('details.manage summary');
    await page.locator('details.manage select[name=folder]').first().selectOption({ label: 'Projects' });
    await page.fill('details.manage input[name=name] >> nth=1', 'Projects 2026');
    await page.click('details.manage button:has-text("Rename")');
    await expectText(page, 'Folder renamed.');
    await expectText(page, 'Projects 2026', { within: 'nav.folders ul' });
    await page.click('details.manage summary');
    await page.locator('details.manage select[name=folder]').nth(1).selectOption({ label: 'Projects 2026' });
    await page.click('details.manage button:has-text("Delete")');
    await expectText(page, 'Folder deleted');
    await expectNoText(page, 'Projects 2026', { within: 'nav.folders ul' });
  });

  await b.step('search', async () => {
    await page.fill('#quick-search', 'quarterly');
    await page.press('#quick-search', 'Enter');
    await expectText(page, 'Quarterly numbers', { within: 'table.messages' });
    await page.goto('/mail/search?advanced=1');
    await page.fill('form.advanced input[name=body]', 'numbers are in');
    await page.click('form.advanced button[type=submit]');
    await expectText(page, '1 result');
    await expectText(page, 'Quarterly numbers', { within: 'table.messages' });
  });

  await b.step('forged CSRF and header injection are refused', async () => {
    const bad = await page.request.post('/mail/act', { form: { csrf_token: 'forged', op: 'delete', mb: '1', uid: '1' }, maxRedirects: 0 });
    assert.equal(bad.status(), 403);
    const token = await page.locator('input[name=csrf_token]').first().getAttribute('value');
    const inj = await page.request.post('/mail/compose', {
      multipart: { csrf_token: token, op: 'send', from: env.USER, to: env.OTHER_USER, subject: 'x\r\nBcc: victim@other.test', body: 'x' },
      maxRedirects: 0,
    });
    assert.equal(inj.status(), 422);
    assert.match(await inj.text(), /single line/);
  });

  await b.step('attachments: remove one before sending; a refusal after upload is shown', async () => {
    await page.goto('/mail/compose');
    await page.setInputFiles('#attachment', [
      { name: 'keep.txt', mimeType: 'text/plain', buffer: Buffer.from('keep\n') },
      { name: 'drop.txt', mimeType: 'text/plain', buffer: Buffer.from('drop\n') },
    ]);
    await expectText(page, 'drop.txt', { within: '#attachment-list' });
    await page.locator('#attachment-list li', { hasText: 'drop.txt' }).locator('button').click();
    await expectNoText(page, 'drop.txt', { within: '#attachment-list' });
    b.allowConsoleError(/status of 422/);
    await page.fill('#to', 'not an address');
    await page.fill('#subject', 'Two files');
    await page.click('#send');
    await expectText(page, 'is not a list of e-mail addresses', { within: '.error' });
    await page.fill('#to', env.OTHER_USER);
    await page.setInputFiles('#attachment', [{ name: 'keep.txt', mimeType: 'text/plain', buffer: Buffer.from('keep\n') }]);
    await page.click('#send');
    await expectText(page, 'Message sent.');
    const raw = await until('the message over IMAP', () => imapFetch(env.OTHER_USER, env.OTHER_USER_PASSWORD, 'Two files'));
    assert.match(raw, /filename=keep\.txt/);
    assert.doesNotMatch(raw, /drop\.txt/);
  });

  await b.step('compose auto-saves a draft; sending it removes the draft', async () => {
    await page.goto('/mail/compose');
    await page.fill('#to', env.OTHER_USER);
    await page.fill('#subject', 'Autosaved words');
    await page.fill('#body', 'typed slowly');
    await expectText(page, 'Draft saved at', { within: '#autosave-status', timeout: 40000 });
    const drafts = await b.page();
    await login(drafts, env.USER, env.USER_PASSWORD, { next: '/mail/' });
    await drafts.click('nav.folders >> text=Drafts');
    await expectText(drafts, 'Autosaved words');
    await page.click('#send');
    await expectText(page, 'Message sent.');
    await drafts.reload();
    await expectText(drafts, 'No messages.');
  });

  await b.step('a new message appears on the open list without a click (live update)', async () => {
    await goto(page, '/mail/');
    await expectText(page, 'Re: Plans for spring');
    await smtpSend({ from: 'dave@sender.test', to: env.USER, data: `From: Dave <dave@sender.test>
To: ${env.USER}
Subject: Arrived while looking
Content-Type: text/plain

live
` });
    await expectText(page, 'Arrived while looking', { within: 'table.messages', timeout: 15000 });
  });

  bk.srv.close();
});
