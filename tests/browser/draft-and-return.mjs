// Two journeys in Debian's chromium with JavaScript off on a 360 px wide
// phone. First a draft is saved, resumed with its code and sent. Then a
// return visit with the reference and receipt secret reads a question
// from staff and answers it.
//
// usage: node draft-and-return.mjs APPLIANCE_HARNESS
// Exits 77 (skipped) when chromium or playwright-core is not installed.

import assert from 'node:assert/strict';
import { launchChromium, loadChromium, startHarness } from './support.mjs';

const chromium = await loadChromium();

const appliance = await startHarness(process.argv[2]);

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

    // A draft saved half-way, resumed with its code and sent.
    await page.goto(`${origin}/en/report`);
    await page.fill('#what', 'A man with a child <i>at</i> the pool');
    await page.selectOption('#country', 'TH');
    await page.check('#category-travel');
    await page.click('button[name="save_draft"]');
    assert.equal(await page.locator('h1').textContent(), 'Your draft is saved');
    const code = (await page.locator('.resume-code').textContent()).trim();
    assert.match(code, /^[0-9A-Z]{5}(-[0-9A-Z]{5}){3}$/);

    await page.goto(`${origin}/en/resume`);
    await page.fill('#code', code.toLowerCase());
    await page.click('button.primary');
    assert.equal(new URL(page.url()).pathname, '/en/resume');
    assert.equal(await page.inputValue('#what'), 'A man with a child <i>at</i> the pool');
    assert.equal(await page.inputValue('#country'), 'TH');
    assert.ok(await page.isChecked('#category-travel'), 'the chosen category is back');
    assert.ok(await page.locator('.notice[role="status"]').isVisible(), 'the page says the draft is back');

    await page.check('#contact-no');
    await page.check('#consent-box');
    await page.click('button.primary');
    assert.equal(await page.locator('h1').textContent(), 'Thank you. Your report has been received.');
    const reference = (await page.locator('.reference').textContent()).trim();
    const secret = (await page.locator('.receipt-secret').textContent()).trim();
    assert.match(reference, /^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$/);
    assert.match(secret, /^[0-9A-Z]{5}(-[0-9A-Z]{5}){3}$/);
    assert.equal(await appliance.command('reports'), '1');

    // A return visit: a question from staff read and answered.
    assert.equal(await appliance.command(`reply ${reference} Which hotel was it?`), 'ok');
    await page.goto(`${origin}/en/return`);
    await page.fill('#reference', reference);
    await page.fill('#secret', secret);
    await page.click('button[value="open"]');
    assert.equal(await page.locator('.reply-text').textContent(), 'Which hotel was it?');
    await page.fill('#message', 'Hotel Sunrise, room 12');
    await page.click('button[value="add"]');
    assert.ok((await page.locator('.notice').textContent()).includes('We have received your information'));
    assert.equal(await appliance.command(`messages ${reference}`), '1');

    assert.deepEqual(foreign, [], 'no request leaves the site');
    console.log('PASS: draft resumed and sent, staff question read and answered, without JavaScript at 360 px');
} finally {
    await browser.close();
    appliance.stop();
}
