// The reporter's other journeys in Debian's chromium with JavaScript off on
// a 360 px wide phone:
//   - a report with contact details and an e-mail address, whose
//     acknowledgement arrives at a loopback aiosmtpd relay over STARTTLS
//     carrying the reference and nothing the reporter wrote;
//   - the same report withdrawn with the reference and receipt secret;
//   - the feedback and complaints form, first sent empty;
//   - an expired draft, whose page explains politely that it is gone;
//   - files refused for a content that does not match the name and for
//     their size, while the rest of the report and the good file are kept;
//   - the quick-exit button, which leaves for a neutral site.
//
// usage: node reporter-journeys.mjs APPLIANCE_HARNESS
// Exits 77 (skipped) when chromium, playwright-core or python3-aiosmtpd is
// not installed.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { launchChromium, loadChromium, skipped, startHarness } from './support.mjs';

const python = '/usr/bin/python3';
// Drafts live this long here, so that one expires during the test.
const draftSeconds = 4;
// The largest attachment here; the oversized file is twice as large.
const maxFileBytes = 64 * 1024;
// The neutral site the quick-exit button leads to. The browser reaches no
// other host, so the test serves a page in its place.
const neutralSite = 'https://www.wikipedia.org/';

const chromium = await loadChromium();
if (!existsSync(python) || spawnSync(python, ['-c', 'import aiosmtpd']).status !== 0) {
    console.log('SKIP: python3-aiosmtpd (Debian) is not installed; run tools/install-deps');
    process.exit(skipped);
}

function freeLoopbackPort() {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.on('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

function sleep(milliseconds) {
    return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

// Waits up to 30 s for a message in the relay's Maildir and returns it.
async function waitForMail(maildir) {
    for (let attempt = 0; attempt < 60; attempt += 1) {
        const folder = join(maildir, 'new');
        const files = existsSync(folder) ? readdirSync(folder) : [];
        if (files.length > 0)
            return files.map((file) => readFileSync(join(folder, file), 'utf8'));
        await sleep(500);
    }
    return [];
}

function png(size) {
    const header = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c489', 'hex');
    return Buffer.concat([header, randomBytes(size - header.length)]);
}

const mailPort = await freeLoopbackPort();
process.env.MELDPUNT_HARNESS_MAIL_PORT = String(mailPort);
process.env.MELDPUNT_HARNESS_DRAFT_SECONDS = String(draftSeconds);
process.env.MELDPUNT_HARNESS_MAX_FILE_BYTES = String(maxFileBytes);
const appliance = await startHarness(process.argv[2]);
const origin = appliance.origin;

const pki = dirname(appliance.caFile);
const maildir = join(mkdtempSync(join(tmpdir(), 'meldpunt-mail-')), 'maildir');
const relay = spawn(python, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${mailPort}`,
    '--tlscert', join(pki, 'server.pem'), '--tlskey', join(pki, 'server.key'),
    '-c', 'aiosmtpd.handlers.Mailbox', maildir], { stdio: 'inherit' });

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
        const url = request.url();
        if (!url.startsWith(origin) && url !== neutralSite) foreign.push(url);
    });
    await context.route(neutralSite, (route) =>
        route.fulfill({ status: 200, contentType: 'text/html', body: '<title>Neutral</title><p>neutral</p>' }));

    // A report with contact details: the acknowledgement e-mail.
    const secretText = 'The receptionist gave a key to a man with a girl of about ten';
    await page.goto(`${origin}/en/report`);
    await page.fill('#what', secretText);
    await page.selectOption('#country', 'TH');
    await page.fill('#place', 'Hotel Sunrise, Pattaya');
    await page.check('#category-travel');
    await page.check('#contact-yes');
    await page.fill('#name', 'Anna Jansen');
    await page.fill('#email', 'anna@example.org');
    await page.check('#consent-box');
    await page.click('button.primary');
    assert.equal(await page.locator('h1').textContent(), 'Thank you. Your report has been received.');
    const reference = (await page.locator('.reference').textContent()).trim();
    const secret = (await page.locator('.receipt-secret').textContent()).trim();
    assert.match(reference, /^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$/);

    const mails = await waitForMail(maildir);
    assert.equal(mails.length, 1, 'one acknowledgement reaches the relay');
    const [mail] = mails;
    assert.ok(mail.includes('anna@example.org'), 'the mail goes to the address typed');
    assert.ok(mail.includes(reference), 'the mail carries the reference');
    for (const content of ['receptionist', 'Sunrise', 'Pattaya', 'Anna', secret])
        assert.ok(!mail.includes(content), `the mail does not carry "${content}"`);

    // The same report withdrawn.
    await page.goto(`${origin}/en/return`);
    await page.fill('#reference', reference);
    await page.fill('#secret', secret);
    await page.click('button[value="open"]');
    for (let attempt = 0; attempt < 20 && (await page.locator('#confirm-withdraw').count()) === 0; attempt += 1) {
        // meldpuntd publishes a new report's receipt after its ingest pass.
        await sleep(500);
        await page.click('button[value="open"]');
    }
    await page.click('button[value="withdraw"]');
    assert.ok((await page.locator('#confirm-error').textContent()).includes('tick the box'),
        'a withdrawal is not taken unconfirmed');
    await page.check('#confirm-withdraw');
    await page.click('button[value="withdraw"]');
    assert.ok((await page.locator('.notice[role="status"]').textContent()).includes('Your report is withdrawn'));
    assert.equal(await appliance.command('field what'), '', 'the withdrawn report keeps no text');

    // The feedback and complaints form.
    await page.goto(`${origin}/en/complaint`);
    await page.click('button.primary');
    assert.ok(await page.locator('#message-error').isVisible(), 'an empty complaint is explained');
    await page.fill('#message', 'The form was hard to find from the hotel wifi.');
    await page.fill('#email', 'feedback@example.org');
    await page.click('button.primary');
    assert.equal(await page.locator('h1').textContent(), 'Thank you for your feedback');

    // An expired draft.
    await page.goto(`${origin}/en/report`);
    await page.fill('#what', 'A draft that is left too long');
    await page.click('button[name="save_draft"]');
    assert.equal(await page.locator('h1').textContent(), 'Your draft is saved');
    const code = (await page.locator('.resume-code').textContent()).trim();
    await sleep((draftSeconds + 2) * 1000);
    await page.goto(`${origin}/en/resume`);
    await page.fill('#code', code);
    const [expired] = await Promise.all([page.waitForNavigation(), page.click('button.primary')]);
    assert.equal(expired.status(), 410);
    const expiredText = await page.locator('main').textContent();
    assert.ok(expiredText.includes('This draft has expired'), 'the page says the draft expired');
    assert.ok(!expiredText.includes('left too long'), 'nothing of the draft is shown');
    assert.ok(await page.locator('main a[href="/en/report"]').count() > 0, 'the page leads to a new report');

    // Files refused for their content and their size, the rest kept.
    const good = png(20 * 1024);
    await page.goto(`${origin}/en/report`);
    await page.fill('#what', 'Photos of the hotel entrance');
    await page.selectOption('#country', 'TH');
    await page.check('#category-travel');
    await page.check('#contact-no');
    await page.check('#consent-box');
    await page.setInputFiles('#files', [
        { name: 'statement.pdf', mimeType: 'application/pdf', buffer: png(8 * 1024) },
        { name: 'video.png', mimeType: 'image/png', buffer: png(2 * maxFileBytes) },
        { name: 'entrance.png', mimeType: 'image/png', buffer: good },
    ]);
    const [refused] = await Promise.all([page.waitForNavigation(), page.click('button.primary')]);
    assert.equal(refused.status(), 422);
    const notices = await page.locator('#upload-notices').textContent();
    assert.ok(notices.includes('statement.pdf'), 'the mismatched file is named');
    assert.ok(notices.includes('does not match its type'), 'the mismatch is explained');
    assert.ok(notices.includes('video.png'), 'the oversized file is named');
    assert.ok(notices.includes('larger than the limit for one file'), 'the size limit is explained');
    assert.deepEqual(await page.locator('.held-files .file-name').allTextContents(), ['entrance.png']);
    assert.equal(await page.inputValue('#what'), 'Photos of the hotel entrance');
    assert.ok(await page.isChecked('#consent-box'), 'the consent stays given');
    await page.click('button.primary');
    assert.equal(await page.locator('h1').textContent(), 'Thank you. Your report has been received.');
    const goodSha256 = createHash('sha256').update(good).digest('hex');
    assert.equal(await appliance.command('attachments'), `1 ${goodSha256}`);

    // The quick exit, from the half-filled form.
    await page.goto(`${origin}/en/report`);
    await page.fill('#what', 'Something I do not want seen');
    const exit = page.locator('a.quick-exit');
    assert.ok(await exit.isVisible(), 'the quick-exit button is visible on a phone');
    const box = await exit.boundingBox();
    assert.ok(box.y + box.height <= 740, 'the quick-exit button is on the first screen');
    await exit.click();
    await page.waitForURL(neutralSite);
    assert.equal(await page.title(), 'Neutral');

    assert.deepEqual(foreign, [], 'no request leaves the site');
    console.log('PASS: acknowledgement e-mail, withdrawal, complaint, expired draft, refused uploads and ' +
        'quick exit, without JavaScript at 360 px');
} finally {
    await browser.close();
    appliance.stop();
    relay.kill('SIGTERM');
    rmSync(dirname(maildir), { recursive: true, force: true });
}
