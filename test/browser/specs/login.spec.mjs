// Sign-in and sign-out through the console, with and without JavaScript; a wrong
// password shows an error and no session.
import { run, env, login, logout, expectText, assert } from '../lib.mjs';

run(async (b) => {
  const page = await b.page();
  await b.step('a wrong password is refused on the page', async () => {
    await page.goto('/console/');
    assert.match(page.url(), /\/login\?next=/);
    await page.fill('input[name=login]', env.ADMIN_USER);
    await page.fill('input[name=password]', 'wrong-password');
    await page.click('button[type=submit]');
    await expectText(page, /password/i, { within: '.error' });
    // The refused login answers 401: chromium logs the status as a console error.
    b.allowConsoleError(/status of 401/);
  });
  await b.step('the system admin signs in and sees the domains', async () => {
    await login(page, env.ADMIN_USER, env.ADMIN_PASSWORD, { next: '/console/' });
    await expectText(page, env.DOMAIN);
    await expectText(page, env.OTHER_DOMAIN);
    // htmx loaded from the npm install (served by the binary).
    assert.equal(await page.evaluate(() => typeof window.htmx), 'object');
  });
  await b.step('sign out ends the session', async () => {
    await logout(page);
    await page.goto('/console/');
    assert.match(page.url(), /\/login/);
  });
  await b.step('without JavaScript the form still signs in', async () => {
    const nojs = await b.page({ javaScriptEnabled: false });
    await login(nojs, env.DOMAIN_ADMIN, env.DOMAIN_ADMIN_PASSWORD);
    await expectText(nojs, env.DOMAIN);
  });
});
