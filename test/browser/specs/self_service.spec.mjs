// Self-service on "My account": API tokens (secret shown once, works as a bearer token,
// revoked), TOTP enrolment (the next sign-in needs a code), active sessions with revoke
// (the other browser is signed out), and a password change (old password refused after).
import { run, env, login, logout, expectText, expectNoText, submit, click, totpCode, assert } from '../lib.mjs';

run(async (b) => {
  // An administrator, so the page offers admin scopes too.
  const who = env.DOMAIN_ADMIN;
  let password = env.DOMAIN_ADMIN_PASSWORD;
  const page = await b.page();
  await login(page, who, password);
  await click(page, 'nav >> text=My account');

  await b.step('create an API token and use it', async () => {
    await page.locator('#add-token input[value="admin:read"]').setChecked(true);
    await submit(page, '#add-token', { name: 'billing' });
    const token = await page.locator('#new-token').innerText();
    assert.match(token, /^mgt_/);
    await expectText(page, 'billing', { within: '#tokens' });
    const r = await page.request.get('/api/v1/domains', { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status(), 200);
    assert.ok((await r.text()).includes(env.DOMAIN));
    // Shown once: a reload does not show it again.
    await page.goto('/console/me');
    assert.equal(await page.locator('#new-token').count(), 0);
    await click(page, '#tokens button:has-text("Revoke")');
    await expectText(page, 'Token revoked.');
    const r2 = await page.request.get('/api/v1/domains', { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r2.status(), 401);
  });

  await b.step('revoke another session', async () => {
    const other = await b.page();
    await login(other, who, password);
    await page.goto('/console/me');
    assert.equal(await page.locator('#sessions tbody tr').count(), 2);
    await click(page, '#sessions button:has-text("Revoke")');
    await expectText(page, 'Session revoked.');
    assert.equal(await page.locator('#sessions tbody tr').count(), 1);
    await other.goto('/console/me');
    assert.match(other.url(), /\/login/);
  });

  await b.step('enrol TOTP; the next sign-in needs a code', async () => {
    await submit(page, '#totp-start');
    const secret = await page.locator('#totp-secret').innerText();
    assert.match(await page.locator('#totp-url').innerText(), /^otpauth:\/\/totp\//);
    await submit(page, '#totp-confirm', { code: totpCode(secret) });
    await expectText(page, 'Two-factor authentication is on.');
    await logout(page);
    b.allowConsoleError(/status of 401/);
    await page.fill('input[name=login]', who);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
    await expectText(page, /authenticator code/i, { within: '.error' });
    // The code of the next time step: the one just used for enrolment is spent.
    await page.fill('input[name=password]', password);
    await page.fill('input[name=totp]', totpCode(secret, Date.now() + 30000));
    await Promise.all([page.waitForURL(/\/console\//), page.click('button[type=submit]')]);
    await click(page, 'nav >> text=My account');
    await submit(page, '#totp-disable', { current_password: password });
    await expectText(page, 'Two-factor authentication is off.');
  });

  await b.step('change the password', async () => {
    b.allowConsoleError(/status of 403/);
    await submit(page, '#change-password', { current_password: 'not-my-password', password: 'whatever-123456' });
    await expectText(page, /current password is wrong/i, { within: '.error' });
    const newPassword = 'dadmin-new-pw-42';
    await submit(page, '#change-password', { current_password: password, password: newPassword });
    await expectText(page, 'Password changed.');
    // This browser stays signed in (a new session); the old password no longer works.
    await page.goto('/console/me');
    await expectText(page, who);
    const other = await b.page();
    await other.goto('/login');
    await other.fill('input[name=login]', who);
    await other.fill('input[name=password]', password);
    await other.click('button[type=submit]');
    await expectText(other, /wrong login or password/i, { within: '.error' });
    password = newPassword;
    await login(other, who, password);
    await expectNoText(other, 'Sign in', { within: 'h1' });
  });
});
