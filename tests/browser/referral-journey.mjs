// A referral in Debian's chromium. A report arrives through the public
// site; a caseworker opens the case, refers it to the partner "Politie",
// whose real meldpunt-receive runs on loopback with certificates from
// tests/make-referral-pki, and sees it delivered. The partner then posts
// an outcome back, and the case page shows it.
//
// usage: node referral-journey.mjs APPLIANCE_HARNESS
// (with MELDPUNT_HARNESS_REFERRALS=1 in the environment)
// Exits 77 (skipped) when chromium or playwright-core is not installed.

import assert from 'node:assert/strict';
import { launchChromium, loadChromium, startHarness } from './support.mjs';
import { base32Decode, totp } from './totp.mjs';

const chromium = await loadChromium();

const appliance = await startHarness(process.argv[2]);
const browser = await launchChromium(chromium);

async function sendReport() {
    const context = await browser.newContext({ javaScriptEnabled: false, ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${appliance.origin}/en/report`);
    await page.fill('#what', 'A man took a boy of about ten into room 12 of the beach hotel.');
    await page.selectOption('#country', 'TH');
    await page.fill('#place', 'Pattaya, beach hotel');
    await page.check('#category-travel');
    await page.check('#contact-no');
    await page.check('#consent-box');
    await page.click('button.primary');
    assert.equal(await page.locator('h1').textContent(), 'Thank you. Your report has been received.');
    await context.close();
}

async function checkPage(page, dialogs) {
    assert.deepEqual(dialogs, [], `no script dialog on ${page.url()}`);
}

// Reloads the page until the first referral's state is `state`.
async function waitForState(page, state) {
    for (let attempt = 0; attempt < 60; attempt++) {
        const text = (await page.locator('.referral-state').first().textContent()).trim();
        if (text === state) return;
        await new Promise((resolve) => setTimeout(resolve, 500));
        await page.reload();
    }
    assert.fail(`the referral did not become ${state}`);
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
    await logInWithTotp(page, 'root', 'correct horse battery', dialogs);
    await page.fill('#username', 'anna');
    await page.selectOption('#role', 'caseworker');
    await page.fill('#password', "anna's first password");
    await page.click('button.primary');
    await page.click('nav button[type="submit"]');

    await logInWithTotp(page, 'anna', "anna's first password", dialogs);
    await page.click('table.inbox a');
    assert.match(new URL(page.url()).pathname, /^\/cases\/\d+$/);
    assert.match(await page.locator('main').textContent(), /This case has not been referred\./);

    await page.selectOption('#partner', { label: 'Politie (police: NL, BE)' });
    assert.equal(await page.locator('#scope-full').isChecked(), true);
    assert.equal(await page.locator('#field-what').isChecked(), true);
    await page.fill('#cover_note', 'Please look at this first.');
    await page.click('form.referral-form button.primary');
    assert.match(new URL(page.url()).pathname, /^\/cases\/\d+$/);
    assert.equal(await page.locator('table.referrals tbody tr').count(), 1);
    await waitForState(page, 'Delivered');
    assert.match(await page.locator('table.referrals').textContent(), /receipt stored/);
    assert.equal(await page.locator('table.referrals button', { hasText: 'Retract' }).count(), 0,
        'a delivered referral cannot be retracted');
    await checkPage(page, dialogs);

    assert.equal(await appliance.command('outcome investigation_opened'), '204');
    await page.reload();
    assert.equal((await page.locator('.referral-outcomes li').textContent()).trim(), 'Investigation opened');
    await checkPage(page, dialogs);
    assert.deepEqual(foreign, [], 'no request leaves the staff site');

    console.log('PASS: a caseworker referred a case, it was delivered, and the outcome shows');
} finally {
    await browser.close();
    appliance.stop();
}
