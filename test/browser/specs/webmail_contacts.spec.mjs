// Address books in a real browser: the user imports a vCard file on /mail/contacts, sees
// the contacts (sorted, searchable), compose's To field offers them as completions, the
// vCard export equals what was imported, a CSV with a bad line is refused with its line
// number and imports nothing, and another domain's user sees none of it.
import { run, env, login, expectText, expectNoText, assert, goto, postForm } from '../lib.mjs';

const cards = [
  'BEGIN:VCARD', 'VERSION:4.0', 'FN:Zoe Zed', 'EMAIL:zoe@remote.test', 'TEL:+1 555 0101', 'NOTE:met in Paris', 'END:VCARD',
  'BEGIN:VCARD', 'VERSION:3.0', 'N:Alpha;Adam;;;', 'EMAIL:adam@remote.test', 'END:VCARD',
].join('\r\n') + '\r\n';

run(async (b) => {
  const page = await b.page();
  await login(page, env.USER, env.USER_PASSWORD, { next: '/mail/' });

  await b.step('import a vCard file and see the contacts', async () => {
    await page.click('#contacts-link');
    await expectText(page, 'No contacts');
    await page.setInputFiles('#import-file', { name: 'cards.vcf', mimeType: 'text/vcard', buffer: Buffer.from(cards) });
    await page.click('#import-submit');
    await expectText(page, 'Contacts imported.');
    await expectText(page, 'Zoe Zed', { within: '#contacts' });
    const names = await page.locator('#contacts td.c-name').allTextContents();
    assert.deepEqual(names, ['Adam Alpha', 'Zoe Zed']);
    await page.fill('#contacts-q', 'zoe');
    await page.click('form[role=search].contacts-search button');
    await expectNoText(page, 'Adam Alpha', { within: '#contacts' });
  });

  await b.step('compose completes from the address book', async () => {
    await goto(page, '/mail/compose');
    await page.locator('#to').pressSequentially('zo');
    await page.waitForSelector('#complete-to option', { state: 'attached' });
    const value = await page.locator('#complete-to option').first().getAttribute('value');
    assert.equal(value, '"Zoe Zed" <zoe@remote.test>');
  });

  await b.step('the vCard export equals the import', async () => {
    const text = await page.evaluate(async () => (await fetch('/mail/contacts/export?format=vcf')).text());
    assert.match(text, /FN:Zoe Zed\r\n/);
    assert.match(text, /EMAIL:zoe@remote.test\r\n/);
    assert.match(text, /TEL:\+1 555 0101\r\n/);
    assert.match(text, /NOTE:met in Paris\r\n/);
    assert.match(text, /FN:Adam Alpha\r\n/);
    assert.equal((text.match(/BEGIN:VCARD/g) || []).length, 2);
  });

  await b.step('a CSV with a bad line is refused, nothing imported', async () => {
    b.allowConsoleError(/mail\/contacts: console error: Failed to load resource: the server responded with a status of 400/);
    await goto(page, '/mail/contacts');
    await page.setInputFiles('#import-file', { name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from('Name,Email\nGood,good@remote.test\nBad,not-an-address\n') });
    await page.click('#import-submit');
    await expectText(page, 'line 3');
    await goto(page, '/mail/contacts');
    await expectNoText(page, 'good@remote.test');
    const forged = await postForm(page, '/mail/contacts', { csrf_token: 'forged', op: 'save', name: 'x' });
    assert.equal(forged.status(), 403);
  });

  await b.step('another domain sees none of it', async () => {
    const other = await b.page();
    await login(other, env.OTHER_USER, env.OTHER_USER_PASSWORD, { next: '/mail/contacts' });
    await expectText(other, 'No contacts');
    const js = await other.evaluate(async () => (await fetch('/mail/contacts/complete?q=zoe')).text());
    assert.equal(js.trim(), '[]');
  });
});
