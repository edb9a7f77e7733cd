// A reporter's journey through the public site in Debian's chromium:
// JavaScript off, a 360 px wide phone, Dutch from the browser's language,
// from the home page's report button to the form, every question
// answered, a switch to English that keeps what was typed, a form sent with a
// missing answer, then a receipt, and the report in the database.
//
// usage: node report-journey.mjs APPLIANCE_HARNESS
// Exits 77 (skipped) when chromium or playwright-core is not installed.

import assert from 'node:assert/strict';
import { launchChromium, loadChromium, startHarness } from './support.mjs';

const chromium = await loadChromium();

const appliance = await startHarness(process.argv[2]);

const origin = appliance.origin;
const browser = await launchChromium(chromium);

try {
    // The certificate comes from the test CA; curl-based tests check TLS
    // itself, so this context does not need the CA installed.
    const context = await browser.newContext({
        javaScriptEnabled: false,
        viewport: { width: 360, height: 740 },
        locale: 'nl-NL',
        ignoreHTTPSErrors: true,
    });
    const page = await context.newPage();
    const foreign = [];
    page.on('request', (request) => {
        if (!request.url().startsWith(origin)) foreign.push(request.url());
    });

    await page.goto(`${origin}/`);
    assert.equal(new URL(page.url()).pathname, '/nl/');
    await page.click('a.button.primary');
    assert.equal(new URL(page.url()).pathname, '/nl/report');
    assert.equal(await page.locator('h1').textContent(), 'Een vermoeden melden');

    await page.fill('#what', 'Een man met een kind <b>bij</b> het zwembad');
    await page.selectOption('#country', 'TH');
    await page.fill('#place', 'Pattaya');
    // The who, where and why questions, and the optional figures.
    const answers = {
        '#why_suspicious': 'Het kind leek bang en keek steeds weg.',
        '#city': 'Pattaya',
        '#suspect_description': 'Lange man, grijze baard, blauwe pet.',
        '#suspect_language': 'Duits',
        '#child_description': 'Meisje van ongeveer tien, schooluniform.',
        '#child_language': 'Thai',
        '#action_taken': 'Ik heb de receptie gewaarschuwd.',
        '#remarks': 'Kenteken begon met 7K.',
    };
    for (const [selector, value] of Object.entries(answers)) await page.fill(selector, value);
    const choices = {
        '#venue_type': 'hotel', '#suspect_count': 'one', '#suspect_age': '50_plus',
        '#suspect_gender': 'male', '#child_count': 'one', '#child_age': '6_11',
        '#child_gender': 'female', '#reporter_age': '30_49', '#reporter_gender': 'no_answer',
        '#found_via': 'search_engine',
    };
    for (const [selector, value] of Object.entries(choices)) await page.selectOption(selector, value);

    await page.click('button[name="switch_language"][value="en"]');
    assert.equal(new URL(page.url()).pathname, '/en/report');
    assert.equal(await page.locator('h1').textContent(), 'Report a suspicion');
    assert.equal(await page.inputValue('#what'), 'Een man met een kind <b>bij</b> het zwembad');
    assert.equal(await page.inputValue('#country'), 'TH');
    for (const [selector, value] of Object.entries({ ...answers, ...choices })) {
        assert.equal(await page.inputValue(selector), value, `${selector} is kept across the language switch`);
    }

    await page.click('button.primary');
    assert.ok(await page.locator('.error-summary').isVisible(), 'the error summary is shown');
    assert.equal(await page.inputValue('#place'), 'Pattaya');

    await page.check('#category-travel');
    await page.check('#contact-no');
    await page.check('#consent-box');
    await page.click('button.primary');
    assert.equal(await page.locator('h1').textContent(), 'Thank you. Your report has been received.');
    const reference = (await page.locator('.reference').textContent()).trim();
    assert.match(reference, /^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$/);
    assert.deepEqual(foreign, [], 'no request leaves the site');

    assert.equal(await appliance.command('reports'), '1');
    for (const [selector, value] of Object.entries({ ...answers, ...choices })) {
        assert.equal(await appliance.command(`field ${selector.slice(1)}`), value, `${selector} is stored as typed`);
    }

    // Layout at phone width, measured with scripts on in a second context.
    const measuring = await browser.newContext({ viewport: { width: 360, height: 740 }, ignoreHTTPSErrors: true });
    const measured = await measuring.newPage();
    for (const path of ['/nl/', '/nl/report', '/ru/report']) {
        await measured.goto(`${origin}${path}`);
        const overflow = await measured.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${path} is ${overflow} px wider than a 360 px screen`);
    }

    console.log(`PASS: report ${reference} sent without JavaScript at 360 px and stored`);
} finally {
    await browser.close();
    appliance.stop();
}
