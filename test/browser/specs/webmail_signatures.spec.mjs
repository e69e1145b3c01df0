// Signatures in a real browser: the user adds two signatures, edits one, makes one the
// default of their address and the other the default of an alias; compose starts with
// the address's signature after "-- ", swaps it when From changes to the alias (and
// removes it for an identity without one); a reply puts it above the quote; the message
// that arrives over IMAP carries it; deleting a signature removes it from compose; bad
// input is refused with the reason.
import { run, env, login, expectText, expectNoText, assert, goto, cli, submit, imapFetch, until } from '../lib.mjs';

run(async (b) => {
  const info = `info@${env.DOMAIN}`;
  const team = `team@${env.DOMAIN}`;
  cli('alias', 'add', info, env.USER);
  cli('alias', 'add', team, env.USER);
  const page = await b.page();
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });

  await b.step('add two signatures and edit one', async () => {
    await goto(page, '/mail/signatures');
    await expectText(page, 'No signatures yet.');
    await submit(page, '#signature-form', { name: 'Work', text: 'Alice Example\nExample Corp' });
    await expectText(page, 'Signature saved.');
    await submit(page, '#signature-form', { name: 'Info desk', text: 'The info desk\nReplies within a day' });
    await expectText(page, 'Info desk', { within: '#signatures' });
    await page.locator('#signatures tr', { hasText: 'Work' }).locator('.g-edit').click();
    await page.waitForURL(/edit=/);
    assert.equal(await page.inputValue('#signature-name'), 'Work');
    await submit(page, '#signature-form', { text: 'Alice Example\nExample Corp, Sales' });
    await expectText(page, 'Example Corp, Sales', { within: '#signatures' });
  });

  await b.step('bad input is refused with the reason', async () => {
    b.allowConsoleError(/status of 422/);
    await submit(page, '#signature-form', { name: ' ', text: 'x' });
    await expectText(page, 'needs a name');
  });

  await b.step('a default per identity', async () => {
    await goto(page, '/mail/signatures');
    const sel = (addr) => page.locator(`#signature-defaults select[aria-label="Default signature for ${addr}"]`);
    await sel(env.USER).selectOption({ label: 'Work' });
    await sel(info).selectOption({ label: 'Info desk' });
    await Promise.all([page.waitForURL(/done=defaults/), page.click('#signature-defaults-save')]);
    await expectText(page, 'Default signatures saved.');
  });

  await b.step('compose inserts the default and swaps it with From', async () => {
    await goto(page, '/mail/compose');
    let body = await page.inputValue('#body');
    assert.match(body, /\n-- \nAlice Example\nExample Corp, Sales$/, `new message body: ${JSON.stringify(body)}`);
    await page.fill('#body', 'Hello Bob,\n\nsee you.' + body.replace(/^\n*/, '\n\n'));
    await page.selectOption('#from', info);
    body = await page.inputValue('#body');
    assert.equal(body, 'Hello Bob,\n\nsee you.\n\n-- \nThe info desk\nReplies within a day');
    await page.selectOption('#from', team); // no default: the signature goes
    assert.equal(await page.inputValue('#body'), 'Hello Bob,\n\nsee you.');
    await page.selectOption('#from', env.USER); // and comes back
    assert.equal(await page.inputValue('#body'), 'Hello Bob,\n\nsee you.\n\n-- \nAlice Example\nExample Corp, Sales');
    await page.fill('#to', env.OTHER_USER);
    await page.fill('#subject', 'Signed message');
    await Promise.all([page.waitForURL(/done=sent/), page.click('#send')]);
    const raw = await until('the signed message over IMAP', () => imapFetch(env.OTHER_USER, env.OTHER_USER_PASSWORD, 'Signed message'));
    assert.match(raw.replace(/=\r?\n/g, '').replace(/=20/g, ' '), /--  ?\r?\nAlice Example\r?\nExample Corp, Sales/);
  });

  await b.step('rich text: the signature lines are swapped in the editor', async () => {
    await goto(page, '/mail/compose');
    await page.fill('#body', 'Rich hello');
    await page.check('#format-rich');
    await page.locator('#rt-editor').waitFor();
    // The typed text replaced the signature: From's change adds one, then swaps it.
    await page.selectOption('#from', info);
    let text = await page.locator('#rt-editor').innerText();
    assert.match(text, /Rich hello\s+--\s*The info desk\s*Replies within a day\s*$/, `rich editor: ${JSON.stringify(text)}`);
    await page.selectOption('#from', env.USER);
    text = await page.locator('#rt-editor').innerText();
    assert.ok(text.includes('Alice Example') && !text.includes('info desk'), `rich editor after the swap: ${JSON.stringify(text)}`);
    assert.ok((await page.inputValue('#compose-html')).includes('Example Corp, Sales'), 'the html field follows the editor');
  });

  await b.step('a reply puts the signature above the quote', async () => {
    // Alice replies to her own copy in Sent (any message will do).
    await goto(page, '/mail/');
    await page.click('nav.folders a:has-text("Sent")');
    await page.click('text=Signed message');
    await page.waitForURL(/\/mail\/m\//);
    const url = new URL(page.url());
    const ref = url.pathname.replace(/^\/mail\/m\//, '');
    await goto(page, `/mail/compose?reply=${ref}`);
    const body = await page.inputValue('#body');
    const sig = body.indexOf('-- \nAlice Example');
    const quote = body.indexOf('> Hello Bob,');
    assert.ok(sig >= 0 && quote > sig, `signature above the quote: ${JSON.stringify(body)}`);
  });

  await b.step('delete a signature: compose no longer offers it', async () => {
    await goto(page, '/mail/signatures');
    await page.locator('#signatures tr', { hasText: 'Info desk' }).locator('.g-delete').click();
    await page.waitForURL(/done=deleted/);
    await expectNoText(page, 'Info desk', { within: '#signatures' });
    await goto(page, '/mail/compose');
    await page.selectOption('#from', info);
    assert.ok(!(await page.inputValue('#body')).includes('info desk'));
  });
});
