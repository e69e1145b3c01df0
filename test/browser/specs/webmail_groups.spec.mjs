// Contact groups (distribution lists) in a real browser: a vCard file with a KIND:group
// card imports as a group (RFC 6350 6.1.4, MEMBER 6.6.5); the user creates a group, adds
// a contact to it from the contact's row, removes a member, renames it; compose's To field
// offers the group by its name (labelled in the page's language, English and Chinese)
// and fills in its members' addresses, and the message
// reaches every member; the vCard export carries the groups; deleting a group keeps its
// members' contacts.
import { run, env, login, expectText, expectNoText, assert, goto, click } from '../lib.mjs';

run(async (b) => {
  const cards = [
    'BEGIN:VCARD', 'VERSION:4.0', 'UID:urn:uuid:0b6a1c52-5cb9-4a83-a3a4-2d8b1e1f0001', 'FN:Bob Other', `EMAIL:${env.OTHER_USER}`, 'END:VCARD',
    'BEGIN:VCARD', 'VERSION:4.0', 'FN:Zoe Zed', 'EMAIL:zoe@remote.test', 'END:VCARD',
    'BEGIN:VCARD', 'VERSION:4.0', 'KIND:group', 'FN:Pen pals', 'MEMBER:urn:uuid:0b6a1c52-5cb9-4a83-a3a4-2d8b1e1f0001',
    `MEMBER:mailto:${env.DOMAIN_ADMIN}`, 'END:VCARD',
  ].join('\r\n') + '\r\n';
  const page = await b.page();
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/contacts' });

  await b.step('a vCard group imports as a group', async () => {
    await expectText(page, 'No groups.');
    await page.setInputFiles('#import-file', { name: 'cards.vcf', mimeType: 'text/vcard', buffer: Buffer.from(cards) });
    await click(page, '#import-submit');
    await expectText(page, 'Contacts imported.');
    await expectText(page, 'Pen pals', { within: '#groups' });
    const members = await page.locator('#groups tr:has-text("Pen pals") td.g-members').textContent();
    assert.equal(members, `${env.OTHER_USER}, ${env.DOMAIN_ADMIN}`);
    assert.deepEqual(await page.locator('#contacts td.c-name').allTextContents(), ['Bob Other', 'Zoe Zed']);
  });

  await b.step('create a group, add a contact from its row, remove a member, rename', async () => {
    await page.fill('#g-name', 'Friends');
    await page.fill('#g-members', env.OTHER_USER);
    await click(page, '#g-save');
    await expectText(page, 'Group saved.');
    const row = page.locator('#contacts tr:has-text("Zoe Zed")');
    await row.locator('select[name=id]').selectOption({ label: 'Friends' });
    await click(page, '#contacts tr:has-text("Zoe Zed") form.add-to-group button');
    await expectText(page, 'Member added to the group.');
    assert.equal(await page.locator('#groups tr:has-text("Friends") td.g-members').textContent(), `${env.OTHER_USER}, zoe@remote.test`);
    // The page reopened the group: remove Bob from it.
    await click(page, `#g-member-list li:has-text("${env.OTHER_USER}") button.g-remove`);
    await expectText(page, 'Member removed from the group.');
    assert.equal(await page.locator('#groups tr:has-text("Friends") td.g-members').textContent(), 'zoe@remote.test');
    await page.fill('#g-name', 'Best friends');
    await click(page, '#g-save');
    await expectText(page, 'Best friends', { within: '#groups' });
    assert.deepEqual(await page.locator('#groups td.g-name').allTextContents(), ['Best friends', 'Pen pals']);
  });

  await b.step('compose offers the group and sends to every member', async () => {
    await goto(page, '/mail/compose');
    await page.locator('#to').pressSequentially('pen');
    await page.waitForSelector('#complete-to option', { state: 'attached' });
    const opt = page.locator('#complete-to option').first();
    const value = await opt.getAttribute('value');
    assert.equal(value, `${env.OTHER_USER}, ${env.DOMAIN_ADMIN}`);
    assert.match(await opt.getAttribute('label'), /Pen pals \(group, 2\)/);
    // In Chinese (here the browser's language) the script's label is the catalogue's.
    const zh = await b.page({ locale: 'zh-CN' });
    await login(zh, env.USER, env.USER_PASSWORD, { next: '/mail/compose' });
    await zh.locator('#to').pressSequentially('pen');
    await zh.waitForSelector('#complete-to option', { state: 'attached' });
    assert.equal(await zh.locator('#complete-to option').first().getAttribute('label'), 'Pen pals（群组，2 人）');
    await zh.close();
    await page.fill('#to', value);
    await page.fill('#subject', 'Hello pen pals');
    await page.fill('#body', 'To the whole group.\n');
    await page.click('#send');
    await expectText(page, 'Message sent.');
    for (const [user, pw] of [[env.OTHER_USER, env.OTHER_USER_PASSWORD], [env.DOMAIN_ADMIN, env.DOMAIN_ADMIN_PASSWORD]]) {
      const p = await b.page();
      await login(p, user, pw, { next: '/mail/' });
      await expectText(p, 'Hello pen pals');
      await p.close();
    }
  });

  await b.step('the vCard export carries the groups; deleting a group keeps the contacts', async () => {
    await goto(page, '/mail/contacts');
    const text = await page.evaluate(async () => (await fetch('/mail/contacts/export?format=vcf')).text());
    assert.equal((text.match(/KIND:group\r\n/g) || []).length, 2);
    assert.match(text, /FN:Best friends\r\nKIND:group\r\nMEMBER:mailto:zoe@remote.test\r\n/);
    assert.match(text, new RegExp(`MEMBER:mailto:${env.DOMAIN_ADMIN.replace('.', '\\.')}\\r\\n`));
    await click(page, '#groups tr:has-text("Best friends") button:has-text("Delete")');
    await expectText(page, 'Contact deleted.');
    await expectNoText(page, 'Best friends', { within: '#groups' });
    await expectText(page, 'Zoe Zed', { within: '#contacts' });
  });
});
