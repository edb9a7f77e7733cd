// Two journeys in Debian's chromium with JavaScript off on a 360 px wide
// phone. First a draft is saved, resumed with its code and sent. Then a
// return visit with the reference and receipt secret reads a question
// from staff and answers it.
//
// usage: node draft-and-return.mjs APPLIANCE_HARNESS
// Exits 77 (skipped) when chromium or playwright-core is not installed.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';

const chromiumPath = '/usr/bin/chromium';
let chromium;
try {
    ({ chromium } = await import('playwright-core'));
} catch {
    console.log('SKIP: playwright-core is not installed; run tools/install-deps');
    process.exit(77);
}
if (!existsSync(chromiumPath)) {
    console.log(`SKIP: ${chromiumPath} is not installed; run tools/install-deps`);
    process.exit(77);
}

const harness = spawn(process.argv[2], [], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: harness.stdout })[Symbol.asyncIterator]();
async function nextLine() {
    const { value, done } = await lines.next();
    assert.ok(!done, 'the appliance harness ended early');
    return value;
}

const [port] = (await nextLine()).split(' ');
const origin = `https://localhost:${port}`;
const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run',
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1'],
});

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
    harness.stdin.write('reports\n');
    assert.equal(await nextLine(), '1');

    // A return visit: a question from staff read and answered.
    harness.stdin.write(`reply ${reference} Which hotel was it?\n`);
    assert.equal(await nextLine(), 'ok');
    await page.goto(`${origin}/en/return`);
    await page.fill('#reference', reference);
    await page.fill('#secret', secret);
    await page.click('button[value="open"]');
    assert.equal(await page.locator('.reply-text').textContent(), 'Which hotel was it?');
    await page.fill('#message', 'Hotel Sunrise, room 12');
    await page.click('button[value="add"]');
    assert.ok((await page.locator('.notice').textContent()).includes('We have received your information'));
    harness.stdin.write(`messages ${reference}\n`);
    assert.equal(await nextLine(), '1');

    assert.deepEqual(foreign, [], 'no request leaves the site');
    console.log('PASS: draft resumed and sent, staff question read and answered, without JavaScript at 360 px');
} finally {
    await browser.close();
    harness.stdin.end();
}
