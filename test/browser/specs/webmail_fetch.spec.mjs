// External POP3 accounts in a real browser: mail waits in a mailbox of a SECOND mailgrid
// instance (started here from the same binary, with its own data directory, on loopback,
// sharing the first node's certificate so the fetcher trusts it); the user of the first
// node adds the account on /mail/fetch (reached from Settings), "Test" logs in over STLS
// and counts the message, "Fetch now" stores it in the chosen folder (Archive), where the
// folder list shows it; a second fetch stores nothing new (UIDL); a wrong password shows
// the server's refusal; a forged form is refused and another domain's user sees none of it.
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { run, env, login, expectText, expectNoText, assert, goto, postForm, click, act, smtpSend } from '../lib.mjs';

// freePort asks the kernel for a loopback port and releases it.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// waitPort polls addr until it accepts a connection (bounded).
async function waitPort(port, child) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`the second mailgrid exited with ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const c = net.createConnection({ host: '127.0.0.1', port }, () => { c.end(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the second mailgrid does not listen on ${port}`);
}

// secondNode starts another mailgrid: only SMTP and POP3 listen; the first node's
// certificate (its data directory's tls/) and DNS server. It is stopped when the spec exits.
async function secondNode() {
  const first = fs.readFileSync(env.MAILGRID_CONFIG, 'utf8');
  const firstData = first.match(/^data = "(.*)"$/m)[1];
  const dnsLine = first.match(/^servers = .*$/m)[0];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailgrid-remote-'));
  const [smtp, pop3] = [await freePort(), await freePort()];
  const listen = { smtp: `127.0.0.1:${smtp}`, pop3: `127.0.0.1:${pop3}` };
  const off = ['submission', 'submissions', 'imap', 'imaps', 'pop3s', 'http', 'managesieve'].map((k) => `${k} = ""`);
  const config = path.join(dir, 'remote.toml');
  fs.writeFileSync(config, [
    `data = ${JSON.stringify(path.join(dir, 'data'))}`, 'hostname = "mail.browser.test"', '[listen]',
    ...Object.entries(listen).map(([k, v]) => `${k} = "${v}"`), ...off,
    '[tls]', `cert_file = ${JSON.stringify(path.join(firstData, 'tls', 'cert.pem'))}`,
    `key_file = ${JSON.stringify(path.join(firstData, 'tls', 'key.pem'))}`,
    '[dns]', dnsLine, '',
  ].join('\n'));
  const child = spawn(env.MAILGRID_BIN, ['serve', '--config', config], {
    env: { ...process.env, MAILGRID_ADMIN_PASSWORD: 'remote-admin-pw-1' }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.on('exit', () => { child.kill('SIGTERM'); fs.rmSync(dir, { recursive: true, force: true }); });
  await waitPort(pop3, child);
  const cli2 = (input, ...args) => execFileSync(env.MAILGRID_BIN, ['--config', config, ...args], { input, encoding: 'utf8' });
  cli2('', 'domain', 'add', 'remote.test');
  cli2('carol-remote-pw-1\n', 'user', 'add', 'carol@remote.test', '--password-stdin');
  return { smtp, pop3, user: 'carol@remote.test', password: 'carol-remote-pw-1' };
}

run(async (b) => {
  const remote = await secondNode();
  await smtpSend({ from: 'sender@elsewhere.test', to: remote.user,
    data: 'From: sender@elsewhere.test\nTo: ' + remote.user + '\nSubject: Waiting on the remote\nMessage-ID: <fetch-1@elsewhere.test>\n\nfetch me\n' },
  { addr: `127.0.0.1:${remote.smtp}` });

  const page = await b.page();
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });

  await b.step('add an external account', async () => {
    await click(page, '#settings-link');
    await click(page, '#fetch-link');
    await expectText(page, 'No external accounts.');
    await page.fill('#f-host', '127.0.0.1');
    await page.fill('#f-port', String(remote.pop3));
    await page.selectOption('#f-tls', 'starttls');
    await page.fill('#f-user', remote.user);
    await page.fill('#f-password', remote.password);
    await page.selectOption('#f-folder', 'Archive');
    await page.selectOption('#f-mode', 'keep');
    await click(page, '#f-save');
    await expectText(page, 'External account saved.');
    await expectText(page, remote.user, { within: '#fetch-accounts' });
    const html = await page.content();
    assert.ok(!html.includes(remote.password), 'the password is in the page');
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
