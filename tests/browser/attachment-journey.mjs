// A reporter attaches a photo in Debian's chromium with JavaScript off on
// a 360 px wide phone, sends the form with a missing answer, finds the
// photo still held with the warning about photo metadata beside it, fixes
// the answer and sends. The stored attachment must be the photo's exact
// bytes.
//
// usage: node attachment-journey.mjs APPLIANCE_HARNESS
// Exits 77 (skipped) when chromium or playwright-core is not installed.

import { createHash, randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { launchChromium, loadChromium, startHarness } from './support.mjs';

const chromium = await loadChromium();

const appliance = await startHarness(process.argv[2]);

// A PNG signature and header, then random bytes: libmagic calls it a PNG.
const photo = Buffer.concat([
    Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c489', 'hex'),
    randomBytes(48 * 1024),
]);
const photoSha256 = createHash('sha256').update(photo).digest('hex');

const origin = appliance.origin;
const browser = await launchChromium(chromium);

try {
    const context = await browser.newContext({
        javaScriptEnabled: false,
        viewport: { width: 360, height: 740 },
        locale: 'en-GB',
        ignoreHTTPSErrors: true,
    });
    const page = await context.newPage();
    const foreign = [];
    page.on('request', (request) => {
        if (!request.url().startsWith(origin)) foreign.push(request.url());
    });

    await page.goto(`${origin}/en/report`);
    assert.ok(await page.locator('#metadata-warning').isVisible(), 'the photo metadata warning is shown');
    await page.selectOption('#country', 'TH');
    await page.check('#category-travel');
    await page.check('#contact-no');
    await page.check('#consent-box');
    await page.setInputFiles('#files', { name: 'beach photo.png', mimeType: 'image/png', buffer: photo });

    // "What happened?" is left empty, so validation fails.
    await page.click('button.primary');
    assert.ok(await page.locator('.error-summary').isVisible(), 'the error summary is shown');
    assert.deepEqual(await page.locator('.held-files .file-name').allTextContents(), ['beach photo.png']);
    assert.ok(await page.locator('#metadata-warning').isVisible(), 'the warning stays beside the upload');
    assert.equal(await page.inputValue('#country'), 'TH');

    await page.fill('#what', 'A man took a child into a hotel room; the photo shows the entrance.');
    await page.click('button.primary');
    assert.equal(await page.locator('h1').textContent(), 'Thank you. Your report has been received.');
    assert.deepEqual(foreign, [], 'no request leaves the site');

    assert.equal(await appliance.command('attachments'), `1 ${photoSha256}`);

    // The form with a held file still fits a 360 px screen (measured with
    // scripts on, in a second context).
    const measuring = await browser.newContext({ viewport: { width: 360, height: 740 }, ignoreHTTPSErrors: true });
    const measured = await measuring.newPage();
    await measured.goto(`${origin}/ru/report`);
    const overflow = await measured.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `/ru/report is ${overflow} px wider than a 360 px screen`);

    console.log('PASS: a photo held through a failed validation arrived byte for byte');
} finally {
    await browser.close();
    appliance.stop();
}
