// Webmail functions added last, in a real browser:
//   - "Block sender" on the message view puts the From address on the Settings block list
//     and the sender's next mail is discarded while another sender's arrives.
//   - The advanced search form's unread and flagged filters narrow the results.
//   - Settings shows the domain's virus scanning and spam filtering status.
//   - A domain admin names an account that may edit the group address book; that user
//     then adds a contact to it, another user cannot.
//   - Settings links to the account page, where the user changes the password; the new
//     one signs in to the webmail.
import { run, env, login, expectText, expectNoText, assert, goto, click, smtpSend, submit, until } from '../lib.mjs';

function mail(from, subject) {
  return { from, to: env.USER, data: `From: ${from}\nTo: ${env.USER}\nSubject: ${subject}\nDate: ${new Date().toUTCString()}\n` +
    `Message-ID: <${Math.random().toString(36).slice(2)}@remote.test>\n\nBody of ${subject}.\n` };
}

// inInbox waits until the user's INBOX lists subject (the page reloads).
async function inInbox(page, subject) {
  await until(`"${subject}" in INBOX`, async () => {
    await goto(page, '/mail/');
    return (await page.locator('table.messages').innerText()).includes(subject);
  });
}

run(async (b) => {
  const page = await b.page();
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });

  await b.step('block sender from the message view', async () => {
    await smtpSend(mail('pest@remote.test', 'Buy now'));
    await inInbox(page, 'Buy now');
    await click(page, 'table.messages a:has-text("Buy now")');
    await click(page, '#block-sender');
    await expectText(page, 'The sender is on your block list');
    assert.match(await page.inputValue('textarea[name=block]'), /pest@remote\.test/);
    await smtpSend(mail('pest@remote.test', 'Buy again'));
    await smtpSend(mail('friend@remote.test', 'Hello friend'));
    await inInbox(page, 'Hello friend');
    await expectNoText(page, 'Buy again', { within: 'table.messages' });
  });

  await b.step('advanced search: unread and flagged filters', async () => {
    await goto(page, '/mail/search?advanced=1');
    await page.fill('input[name=subject]', 'friend');
    await page.locator('input[name=unread]').setChecked(true);
    await click(page, 'form.advanced button[type=submit]');
    await expectText(page, 'Hello friend', { within: 'table.messages' });
    assert.equal(await page.locator('input[name=unread]').isChecked(), true);
    await page.locator('input[name=flagged]').setChecked(true);
    await click(page, 'form.advanced button[type=submit]');
    await expectNoText(page, 'Hello friend', { within: 'body' });
  });

  await b.step('settings show the domain filters', async () => {
    await goto(page, '/mail/settings');
    await expectText(page, 'Virus scanning: on for your domain', { within: '#antivirus-status' });
  });

  await b.step('a permitted user edits the group address book', async () => {
    const admin = await b.page();
    await login(admin, env.DOMAIN_ADMIN, env.DOMAIN_ADMIN_PASSWORD, { next: '/mail/contacts?book=group' });
    await admin.fill('#editors', env.USER);
    await click(admin, '#editors-save');
    assert.match(await admin.inputValue('#editors'), new RegExp(env.USER.replace('.', '\\.')));
    await admin.close();
    await goto(page, '/mail/contacts?book=group');
    const status = await page.evaluate(async () => {
      const form = new FormData();
      form.set('csrf_token', document.querySelector('input[name=csrf_token]').value);
      form.set('op', 'save');
      form.set('book', 'group');
      form.set('name', 'Front desk');
      form.set('emails', 'desk@example.test');
      const r = await fetch('/mail/contacts', { method: 'POST', body: new URLSearchParams(form), redirect: 'manual' });
      return r.status;
    });
    // fetch with redirect 'manual' reports the 303 as an opaque redirect (status 0).
    assert.ok(status === 0 || status === 303, `permitted user's save: ${status}`);
    await goto(page, '/mail/contacts?book=group');
    await expectText(page, 'Front desk', { within: '#contacts' });
  });

  await b.step('change the password from the webmail settings', async () => {
    await goto(page, '/mail/settings');
    await click(page, '#settings-account-link');
    const newPassword = 'alice-new-pw-77';
    await submit(page, '#change-password', { current_password: env.USER_PASSWORD, password: newPassword });
    await expectText(page, 'Password changed.');
    const other = await b.page();
    await login(other, env.USER, newPassword, { next: '/mail/' });
    await expectText(other, 'Hello friend');
    await other.close();
  });
});
