// A case with a photo and a reply, in Debian's chromium. A reporter sends
// a report with a PNG through the public form and keeps the receipt. A
// caseworker logs in with TOTP, opens the case, finds the photo blurred
// and grey, reveals it, and answers the reporter. The reporter's return
// visit with the receipt secret then shows the answer.
//
// usage: node case-page-journey.mjs APPLIANCE_HARNESS
// Exits 77 (skipped) when chromium or playwright-core is not installed.

import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { launchChromium, loadChromium, startHarness } from './support.mjs';
import { base32Decode, totp } from './totp.mjs';

const chromium = await loadChromium();

// A valid 1×1 PNG, so that chromium decodes it.
const photo = Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const photoSha256 = createHash('sha256').update(photo).digest('hex');
const reply = 'Thank you. Which floor was the room on?';

const appliance = await startHarness(process.argv[2]);
const publicOrigin = appliance.origin;
const browser = await launchChromium(chromium);

async function sendReport() {
    const context = await browser.newContext({ javaScriptEnabled: false, ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${publicOrigin}/en/report`);
    await page.fill('#what', 'A man took a child into a hotel room; the photo shows the entrance.');
    await page.selectOption('#country', 'TH');
    await page.check('#category-travel');
    await page.check('#contact-no');
    await page.check('#consent-box');
    await page.setInputFiles('#files', { name: 'entrance.png', mimeType: 'image/png', buffer: photo });
    await page.click('button.primary');
    assert.equal(await page.locator('h1').textContent(), 'Thank you. Your report has been received.');
    const reference = (await page.locator('.reference').textContent()).trim();
    const secret = (await page.locator('.receipt-secret').textContent()).trim();
    await context.close();
    return { reference, secret };
}

async function checkPage(page, dialogs) {
    assert.deepEqual(dialogs, [], `no script dialog on ${page.url()}`);
}

async function logInWithTotp(page, username, password, dialogs) {
    await page.goto(`${staffOrigin}/login`);
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.click('button.primary');
    assert.equal(new URL(page.url()).pathname, '/enrol');
    const secret = base32Decode((await page.locator('code.secret').textContent()).trim());
    await page.fill('#code', totp(secret));
    await page.click('button.primary');
    assert.equal(await page.locator('h1').textContent(), 'Your recovery codes');
    await checkPage(page, dialogs);
    await page.click('a.button.primary');
}

function filterOf(image) {
    return image.evaluate((element) => getComputedStyle(element).filter);
}

let staffOrigin;
try {
    const receipt = await sendReport();
    assert.equal(await appliance.command('attachments'), `1 ${photoSha256}`);
    const [staffPort, setupCode] = (await appliance.command('staff')).split(' ');
    staffOrigin = `https://localhost:${staffPort}`;

    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const foreign = [];
    const dialogs = [];
    page.on('request', (request) => {
        if (!request.url().startsWith(staffOrigin)) foreign.push(request.url());
    });
    page.on('dialog', async (dialog) => {
        dialogs.push(dialog.message());
        await dialog.dismiss();
    });

    await page.goto(`${staffOrigin}/setup`);
    await page.fill('#setup_code', setupCode);
    await page.fill('#username', 'root');
    await page.fill('#password', 'correct horse battery');
    await page.fill('#password_again', 'correct horse battery');
    await page.click('button.primary');
    await logInWithTotp(page, 'root', 'correct horse battery', dialogs);
    await page.fill('#username', 'anna');
    await page.selectOption('#role', 'caseworker');
    await page.fill('#password', "anna's first password");
    await page.click('button.primary');
    await page.click('nav button[type="submit"]');

    await logInWithTotp(page, 'anna', "anna's first password", dialogs);
    await page.click('table.inbox a');
    assert.match(new URL(page.url()).pathname, /^\/cases\/\d+$/);

    const attachment = page.locator('article.attachment');
    assert.equal(await attachment.count(), 1);
    assert.equal(await attachment.locator('.attachment-name').textContent(), 'entrance.png');
    assert.equal(await attachment.locator('.attachment-type').textContent(), 'image/png');
    assert.equal(await attachment.locator('.attachment-sha256').textContent(), photoSha256);
    const image = attachment.locator('img.attachment-image');
    await image.evaluate((element) => element.decode());
    assert.ok(await image.evaluate((element) => element.naturalWidth === 1), 'the photo is served decrypted');
    assert.equal(await filterOf(image), 'blur(24px) grayscale(1)', 'the photo starts blurred and grey');

    await attachment.locator('button.reveal-image').click();
    const revealed = page.locator('img.attachment-image');
    assert.equal(await revealed.count(), 1);
    await revealed.evaluate((element) => element.decode());
    assert.equal(await filterOf(revealed), 'none', 'the revealed photo has no filter');
    assert.equal(await page.locator('button.reveal-image').count(), 0);
    await checkPage(page, dialogs);

    await page.fill('#reply', reply);
    await page.click('form[action$="/replies"] button');
    assert.equal(await page.locator('.message.to-reporter .message-text').textContent(), reply);
    assert.deepEqual(foreign, [], 'no request leaves the staff site');

    // The reporter comes back with the receipt.
    const reporter = await browser.newContext({ javaScriptEnabled: false, ignoreHTTPSErrors: true });
    const visit = await reporter.newPage();
    await visit.goto(`${publicOrigin}/en/return`);
    await visit.fill('#reference', receipt.reference);
    await visit.fill('#secret', receipt.secret);
    await visit.click('button[value="open"]');
    assert.equal(await visit.locator('.reply-text').textContent(), reply);
    await reporter.close();

    console.log('PASS: a caseworker saw the photo blurred, revealed it, and the reporter read the reply');
} finally {
    await browser.close();
    appliance.stop();
}
