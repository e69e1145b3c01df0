// Rich-text compose in a real browser: the user switches compose to rich text and
// formats with the toolbar (bold, italic, underline, a list, a link, a quote); the draft
// re-opens in rich mode; the sent message arrives over IMAP (Python's imaplib) in another
// account as multipart/alternative with a text/plain part made from the HTML. A crafted
// post of hostile HTML arrives with no script, handler or javascript: URL.
import { run, env, login, expectText, assert, goto, csrf, imapFetch, until } from '../lib.mjs';

// parts splits a MIME message into its leaf parts: [{type, body}] with quoted-printable
// undone (RFC 2045 6.7), enough for the messages the webmail writes.
function parts(raw) {
  const out = [];
  const walk = (text) => {
    const [head, ...rest] = text.split(/\r?\n\r?\n/);
    const body = rest.join('\r\n\r\n');
    const h = head.replace(/\r?\n[ \t]+/g, ' ');
    const type = (/^content-type:\s*([^;\s]+)/im.exec(h) || [, 'text/plain'])[1].toLowerCase();
    const boundary = /boundary="?([^";\r\n]+)"?/i.exec(h);
    if (type.startsWith('multipart/') && boundary) {
      out.push({ type, body: '' });
      const segs = body.split('--' + boundary[1]);
      for (const seg of segs.slice(1)) {
        if (seg.startsWith('--')) break;
        walk(seg.replace(/^\r?\n/, ''));
      }
      return;
    }
    let b = body;
    if (/content-transfer-encoding:\s*quoted-printable/i.test(h)) {
      b = Buffer.from(b.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, x) => String.fromCharCode(parseInt(x, 16))), 'latin1').toString('utf8');
    }
    out.push({ type, body: b });
  };
  walk(raw);
  return out;
}

run(async (b) => {
  const page = await b.page();
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });

  await b.step('format with the toolbar', async () => {
    await goto(page, '/mail/compose');
    await page.fill('#to', env.OTHER_USER);
    await page.fill('#subject', 'Rich greetings');
    await page.fill('#body', 'Typed as plain first');
    await page.check('#format-rich');
    assert.ok(await page.locator('#rt-editor').isVisible());
    assert.ok(!(await page.locator('#body').isVisible()));
    await expectText(page, 'Typed as plain first', { within: '#rt-editor' });
    await page.click('#rt-editor');
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    await page.keyboard.type('Hello ');
    await page.click('#rt-bold');
    await page.keyboard.type('bold');
    await page.click('#rt-bold');
    await page.keyboard.type(' and ');
    await page.click('#rt-italic');
    await page.keyboard.type('italic');
    await page.click('#rt-italic');
    await page.keyboard.type(' and ');
    await page.click('#rt-underline');
    await page.keyboard.type('underlined');
    await page.click('#rt-underline');
    await page.keyboard.type(' end');
    await page.keyboard.press('Enter');
    await page.click('#rt-ul');
    await page.keyboard.type('first item');
    await page.keyboard.press('Enter');
    await page.keyboard.type('second item');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Enter'); // leaves the list
    await page.keyboard.type('the doc');
    await page.keyboard.press('Shift+Home');
    await page.fill('#rt-link-url', 'https://example.test/doc');
    await page.click('#rt-link');
    await page.click('#rt-editor');
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    await page.click('#rt-quote');
    await page.keyboard.type('a quoted line');
    const html = await page.locator('#rt-editor').innerHTML();
    for (const want of [/<b>bold<\/b>/, /<i>italic<\/i>/, /<u>underlined<\/u>/, /<li>first item<\/li><li>second item<\/li>/,
      /<a href="https:\/\/example\.test\/doc">the doc<\/a>/, /<blockquote>a quoted line<\/blockquote>/]) {
      assert.match(html, want);
    }
    assert.equal(await page.inputValue('#compose-mode'), 'rich');
  });

  await b.step('the draft keeps the rich mode', async () => {
    await Promise.all([page.waitForURL(/draft=/), page.click('#save-draft')]);
    assert.equal(await page.inputValue('#compose-mode'), 'rich');
    assert.ok(await page.locator('#format-rich').isChecked());
    await expectText(page, 'bold', { within: '#rt-editor b' });
    await expectText(page, 'the doc', { within: '#rt-editor a' });
  });

  await b.step('sent: multipart/alternative over IMAP, text made from the HTML', async () => {
    await page.click('#send');
    await expectText(page, 'Message sent.');
    const raw = await until('the message over IMAP', () => imapFetch(env.OTHER_USER, env.OTHER_USER_PASSWORD, 'Rich greetings'));
    const ps = parts(raw);
    assert.deepEqual(ps.map((p) => p.type), ['multipart/alternative', 'text/plain', 'text/html']);
    const text = ps[1].body.replace(/\r\n/g, '\n');
    const html = ps[2].body;
    assert.match(text, /Typed as plain first\nHello bold and italic and underlined end\n/);
    assert.match(text, /- first item\n- second item\n/);
    assert.match(text, /the doc <https:\/\/example\.test\/doc>/);
    assert.match(text, /> a quoted line/);
    assert.match(html, /<b>bold<\/b>/);
    assert.match(html, /<blockquote>a quoted line<\/blockquote>/);
    assert.doesNotMatch(raw, /<script/i);
  });

  await b.step('hostile HTML posted directly arrives without script', async () => {
    await goto(page, '/mail/compose');
    const token = await csrf(page);
    const res = await page.request.post('/mail/compose', { maxRedirects: 0, multipart: {
      csrf_token: token, op: 'send', from: env.USER, to: env.OTHER_USER, subject: 'Rich hostile', mode: 'rich',
      html: '<p>visible <b>text</b></p><script>alert(1)</script><img src=x onerror="alert(2)">' +
        '<a href="javascript:alert(3)">js link</a><svg onload="alert(4)"></svg><p style="background:url(http://127.0.0.1:9/b)">bg</p>',
    } });
    assert.equal(res.status(), 303);
    const raw = await until('the hostile message over IMAP', () => imapFetch(env.OTHER_USER, env.OTHER_USER_PASSWORD, 'Rich hostile'));
    const ps = parts(raw);
    assert.deepEqual(ps.map((p) => p.type), ['multipart/alternative', 'text/plain', 'text/html']);
    assert.match(ps[2].body, /visible <b>text<\/b>/);
    for (const bad of [/<script/i, /onerror/i, /onload/i, /javascript:/i, /url\(/i, /<svg/i]) {
      assert.doesNotMatch(raw, bad);
    }
  });

  await b.step('the recipient reads it in the webmail', async () => {
    await page.goto('about:blank');
    const bob = await b.page();
    await login(bob, env.OTHER_USER, env.OTHER_USER_PASSWORD, { next: '/mail/' });
    await bob.click('text=Rich greetings');
    await bob.frameLocator('#body-frame').locator('b', { hasText: 'bold' }).waitFor();
    assert.deepEqual(b.dialogs, []);
  });
});
