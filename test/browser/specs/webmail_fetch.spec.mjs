// External POP3 accounts in a real browser: mail waits in another user's mailbox on this
// same node (a second mailgrid's POP3 service as far as the fetcher knows: it connects to
// the node's POP3 listener over loopback with STLS and the node's certificate); the user
// adds the account on /mail/fetch, "Test" logs in and counts the message, "Fetch now"
// stores it in the chosen folder (Archive), where the folder list shows it; a second
// fetch stores nothing new (UIDL); a wrong password shows the server's refusal; a forged
// form is refused and another domain's user sees none of it.
import net from 'node:net';
import { run, env, login, expectText, expectNoText, assert, goto, postForm, click, act } from '../lib.mjs';

// smtpSend delivers one message over plain SMTP (RFC 5321) to the node's MX listener.
function smtpSend(from, to, data) {
  const [host, port] = env.SMTP_ADDR.split(':');
  const body = data.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
  const script = [`EHLO client.test`, `MAIL FROM:<${from}>`, `RCPT TO:<${to}>`, 'DATA', `${body}\r\n.`, 'QUIT'];
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host, port: Number(port) });
    sock.setTimeout(20000, () => { sock.destroy(); reject(new Error('SMTP timeout')); });
    let buf = '';
    let step = 0;
    sock.on('data', (d) => {
      buf += d.toString();
      for (;;) { // a reply is complete when its last line has "NNN " (RFC 5321 4.2.1)
        const m = buf.match(/^(\d{3}) .*\r\n/m);
        if (!m) return;
        buf = buf.slice(buf.indexOf(m[0]) + m[0].length);
        if (Number(m[1]) >= 400) { sock.destroy(); reject(new Error(`SMTP ${m[0].trim()} at step ${step}`)); return; }
        if (step < script.length) sock.write(script[step++] + '\r\n');
        else { sock.end(); resolve(); return; }
      }
    });
    sock.on('error', reject);
  });
}

run(async (b) => {
  const [popHost, popPort] = env.POP3_ADDR.split(':');
  await smtpSend('sender@elsewhere.test', env.OTHER_USER,
    'From: sender@elsewhere.test\nTo: ' + env.OTHER_USER + '\nSubject: Waiting on the remote\nMessage-ID: <fetch-1@elsewhere.test>\n\nfetch me\n');

  const page = await b.page();
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });

  await b.step('add an external account', async () => {
    await click(page, '#settings-link');
    await click(page, '#fetch-link');
    await expectText(page, 'No external accounts.');
    await page.fill('#f-host', popHost);
    await page.fill('#f-port', popPort);
    await page.selectOption('#f-tls', 'starttls');
    await page.fill('#f-user', env.OTHER_USER);
    await page.fill('#f-password', env.OTHER_USER_PASSWORD);
    await page.selectOption('#f-folder', 'Archive');
    await page.selectOption('#f-mode', 'keep');
    await click(page, '#f-save');
    await expectText(page, 'External account saved.');
    await expectText(page, env.OTHER_USER, { within: '#fetch-accounts' });
    const html = await page.content();
    assert.ok(!html.includes(env.OTHER_USER_PASSWORD), 'the password is in the page');
  });

  await b.step('Test logs in and counts the waiting mail', async () => {
    await click(page, '#fetch-accounts button.f-test');
    await expectText(page, /Test passed: logged in to .* 1 message\(s\) waiting/);
  });

  await b.step('Fetch now stores the mail in Archive; again, nothing new', async () => {
    await click(page, '#fetch-accounts button.f-fetch');
    await expectText(page, 'Fetched 1 new message(s)');
    await click(page, '#fetch-accounts button.f-fetch');
    await expectText(page, 'Fetched 0 new message(s)');
    await expectText(page, '0 new', { within: '#fetch-accounts' });
    await goto(page, '/mail/');
    await act(page, () => page.click('nav.folders >> text=Archive'));
    await expectText(page, 'Waiting on the remote');
  });

  await b.step('a wrong password shows the refusal; a forged form is refused', async () => {
    b.allowConsoleError(/status of 502/);
    await goto(page, '/mail/fetch');
    await page.locator('#fetch-accounts a:has-text("Edit")').first().click();
    await page.waitForSelector('#f-password[placeholder=unchanged]');
    await page.fill('#f-password', 'not-the-password');
    await act(page, () => page.click('#f-test'));
    await expectText(page, /refused PASS/);
    await expectNoText(page, 'not-the-password');
    const forged = await postForm(page, '/mail/fetch', { csrf_token: 'forged', op: 'delete', id: '1' });
    assert.equal(forged.status(), 403);
  });

  await b.step('another domain sees none of it', async () => {
    const other = await b.page();
    await login(other, env.OTHER_USER, env.OTHER_USER_PASSWORD, { next: '/mail/fetch' });
    await expectText(other, 'No external accounts.');
    const id = await page.locator('#fetch-accounts tr[data-fetch-id]').first().getAttribute('data-fetch-id');
    const r = await postForm(other, '/mail/fetch', { op: 'fetch', id });
    assert.equal(r.status(), 404);
    b.allowConsoleError(/status of 404/);
  });
});
