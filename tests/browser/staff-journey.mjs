// A staff member's day in Debian's chromium. The first admin is created
// with the setup code, logs in with a TOTP code computed here, and creates
// a caseworker. The caseworker logs in with TOTP, triages a report sent
// with hostile text in it, and closes the case with an outcome. A
// coordinator then reads the year's statistics, writes the annual report's
// text and downloads the report as a PDF. Every staff page is checked for
// the hostile text shown as text, no script dialog, and no request to
// another site.
//
// usage: node staff-journey.mjs APPLIANCE_HARNESS
// Exits 77 (skipped) when chromium or playwright-core is not installed.

import assert from 'node:assert/strict';
import { launchChromium, loadChromium, startHarness } from './support.mjs';
import { base32Decode, totp } from './totp.mjs';

const chromium = await loadChromium();

const hostileWhat = '<script>alert(1)</script> "><img src=x onerror=alert(1)>';
const hostilePlace = '{{7*7}} ${7*7} <%= 7*7 %>';

const appliance = await startHarness(process.argv[2]);

const publicOrigin = appliance.origin;
const browser = await launchChromium(chromium);

async function sendReport() {
    const context = await browser.newContext({ javaScriptEnabled: false, ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${publicOrigin}/en/report`);
    await page.fill('#what', hostileWhat);
    await page.selectOption('#country', 'TH');
    await page.fill('#place', hostilePlace);
    await page.check('#category-travel');
    await page.check('#contact-no');
    await page.check('#consent-box');
    await page.click('button.primary');
    assert.equal(await page.locator('h1').textContent(), 'Thank you. Your report has been received.');
    await context.close();
}

// Checks a staff page: no script ran (a dialog would have been recorded)
// and the hostile text, where shown, is text and not markup.
async function checkPage(page, dialogs) {
    assert.deepEqual(dialogs, [], `no script dialog on ${page.url()}`);
    assert.equal(await page.locator('img[src="x"]').count(), 0, `no injected image on ${page.url()}`);
    assert.equal(await page.locator('main script').count(), 0, `no script element on ${page.url()}`);
}

async function logInWithTotp(page, username, password, dialogs) {
    await page.goto(`${staffOrigin}/login`);
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.click('button.primary');
    assert.equal(new URL(page.url()).pathname, '/enrol');
    const qrCode = page.locator('img[src="/enrol/qr.svg"]');
    await qrCode.evaluate((image) => image.decode());
    assert.ok(await qrCode.evaluate((image) => image.naturalWidth > 0),
        'the QR code is served by the box itself');
    const secret = base32Decode((await page.locator('code.secret').textContent()).trim());
    await page.fill('#code', totp(secret));
    await page.click('button.primary');
    assert.equal(await page.locator('h1').textContent(), 'Your recovery codes');
    assert.equal(await page.locator('.recovery-codes li').count(), 10);
    await checkPage(page, dialogs);
    await page.click('a.button.primary');
}

let staffOrigin;
try {
    await sendReport();
    assert.equal(await appliance.command('reports'), '1');
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
    assert.match(await page.locator('.notice').textContent(), /The admin account exists/);

    await logInWithTotp(page, 'root', 'correct horse battery', dialogs);
    assert.equal(new URL(page.url()).pathname, '/accounts');
    await page.fill('#username', 'anna');
    await page.selectOption('#role', 'caseworker');
    await page.fill('#password', "anna's first password");
    await page.click('button.primary');
    assert.equal(await page.locator('td', { hasText: 'anna' }).count() > 0, true);
    await page.fill('#username', 'cora');
    await page.selectOption('#role', 'coordinator');
    await page.fill('#password', "cora's first password");
    await page.click('button.primary');
    assert.equal(await page.locator('td', { hasText: 'cora' }).count() > 0, true);
    await page.click('nav button[type="submit"]');
    assert.equal(new URL(page.url()).pathname, '/login');

    await logInWithTotp(page, 'anna', "anna's first password", dialogs);
    assert.equal(new URL(page.url()).pathname, '/inbox');
    await checkPage(page, dialogs);
    await page.click('table.inbox a');
    assert.match(new URL(page.url()).pathname, /^\/cases\/\d+$/);
    assert.equal((await page.locator('dd.field-what').textContent()), hostileWhat);
    assert.equal((await page.locator('dd.field-place').textContent()), hostilePlace);
    await checkPage(page, dialogs);

    await page.selectOption('#new_status', 'acknowledged');
    await page.click('form[action$="/status"] button');
    assert.match(await page.locator('main').textContent(), /acknowledged/);
    await page.fill('#note', hostileWhat);
    await page.click('form[action$="/notes"] button');
    assert.equal(await page.locator('.note-text').textContent(), hostileWhat);
    await checkPage(page, dialogs);

    await page.selectOption('#new_status', 'closed');
    await page.selectOption('#outcome', 'referred_to_police');
    await page.click('form[action$="/status"] button');
    assert.match(await page.locator('main').textContent(), /Closed \(Referred to the police\)/);

    await page.goto(`${staffOrigin}/inbox`);
    assert.equal(await page.locator('table.inbox a').count(), 0, 'a closed case leaves the inbox');
    await page.goto(`${staffOrigin}/inbox?status=all`);
    assert.equal(await page.locator('table.inbox a').count(), 1);
    await checkPage(page, dialogs);
    await page.click('nav button[type="submit"]');

    await logInWithTotp(page, 'cora', "cora's first password", dialogs);
    await page.click('nav a[href="/statistics"]');
    assert.equal(new URL(page.url()).pathname, '/statistics');
    assert.equal(await page.locator('#summary-reports').textContent(), '1');
    const closed = page.locator('#closed-outcomes');
    assert.equal(await closed.locator('th[scope="row"]').textContent(), 'Referred to the police');
    assert.equal(await closed.locator('td').first().textContent(), '1');
    const chart = closed.locator('svg.chart');
    assert.equal(await chart.getAttribute('role'), 'img');
    assert.ok((await chart.boundingBox()).width > 100, 'the chart is drawn');
    assert.equal(await page.locator('#countries th[scope="row"]').textContent(), 'Thailand');
    await checkPage(page, dialogs);
    await page.fill('#text', 'Een jaar van werk. Год работы.');
    await page.click('form[action="/statistics/text"] button');
    assert.equal(await page.locator('#text').inputValue(), 'Een jaar van werk. Год работы.');
    await page.selectOption('#language', 'ru');
    const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click('form.annual-report-download button'),
    ]);
    assert.match(download.suggestedFilename(), /^meldpunt-annual-report-\d{4}\.pdf$/);
    const pdf = await download.createReadStream();
    const chunks = [];
    for await (const chunk of pdf) chunks.push(chunk);
    assert.equal(Buffer.concat(chunks).subarray(0, 5).toString(), '%PDF-');
    assert.deepEqual(foreign, [], 'no request leaves the staff site');

    console.log('PASS: staff logged in with TOTP, triaged and closed a report with hostile text, '
        + 'and a coordinator downloaded the annual report');
} finally {
    await browser.close();
    appliance.stop();
}
