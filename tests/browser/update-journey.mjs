// A technician installs a signed update from the staff UI in Debian's
// chromium. The first admin logs in with TOTP, uploads four bundles that
// the updater rejects (not a bundle, other hardware, a downgrade, a
// signature under an untrusted CA) and reads for each what is wrong and
// what to do. Then the admin uploads a good bundle, reads its manifest,
// confirms its manifest SHA-256 and follows the install to its result.
// The harness runs meldpunt-updated on a private dbus-daemon with
// file-backed slots, and reports the slot, the reboot and the audit log.
//
// usage: node update-journey.mjs UPDATER_HARNESS
// Exits 77 (skipped) when chromium or playwright-core is not installed.

import assert from 'node:assert/strict';
import { launchChromium, loadChromium, startHarness } from './support.mjs';
import { base32Decode, totp } from './totp.mjs';

const chromium = await loadChromium();
const appliance = await startHarness(process.argv[2]);
const browser = await launchChromium(chromium);

const rejections = [
    { kind: 'not-a-bundle', problem: /not a Meldpunt bundle/, advice: /Choose the \.mpb bundle file that the vendor sent/ },
    { kind: 'other-hardware', problem: /not made for this hardware/, advice: /Ask the vendor for the bundle made for this box/ },
    { kind: 'downgrade', problem: /below this box's epoch 1/, advice: /meldpunt-update install --permission/ },
    { kind: 'bad-signature', problem: /signature was rejected/, advice: /Do not install this file/ },
];

async function upload(page, path) {
    await page.goto(`${staffOrigin}/updates`);
    await page.setInputFiles('#bundle', path);
    await page.click('form[action="/updates/upload"] button');
}

async function notice(page) {
    return (await page.locator('.notice[role="alert"]').first().textContent()).replace(/\s+/g, ' ');
}

let staffOrigin;
try {
    const [staffPort, setupCode] = (await appliance.command('staff')).split(' ');
    staffOrigin = `https://localhost:${staffPort}`;
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const foreign = [];
    page.on('request', (request) => {
        if (!request.url().startsWith(staffOrigin)) foreign.push(request.url());
    });

    await page.goto(`${staffOrigin}/setup`);
    await page.fill('#setup_code', setupCode);
    await page.fill('#username', 'technician');
    await page.fill('#password', 'correct horse battery');
    await page.fill('#password_again', 'correct horse battery');
    await page.click('button.primary');
    await page.goto(`${staffOrigin}/login`);
    await page.fill('#username', 'technician');
    await page.fill('#password', 'correct horse battery');
    await page.click('button.primary');
    const secret = base32Decode((await page.locator('code.secret').textContent()).trim());
    await page.fill('#code', totp(secret));
    await page.click('button.primary');
    await page.click('a.button.primary');

    await page.click('nav a[href="/updates"]');
    assert.equal(await page.locator('h1').textContent(), 'Software updates');
    const state = (await page.locator('#updater-state').textContent()).replace(/\s+/g, ' ');
    assert.match(state, /Running slot ?a/);
    assert.match(state, /Security epoch ?1/);
    assert.equal((await page.locator('#updater-operation').textContent()).trim(), 'idle');

    for (const { kind, problem, advice } of rejections) {
        const [path] = (await appliance.command(`bundle ${kind} ${kind}`)).split(' ');
        await upload(page, path);
        const text = await notice(page);
        assert.match(text, /This bundle was rejected and nothing was installed/, `${kind}: ${text}`);
        assert.match(text, problem, `${kind}: ${text}`);
        assert.match(text, advice, `${kind}: ${text}`);
        assert.equal(await page.locator('form[action="/updates/install"]').count(), 0,
            `${kind}: no install form for a rejected bundle`);
        // The form is back for the next try.
        assert.equal(await page.locator('#bundle').count(), 1);
    }
    assert.equal(await appliance.command('slot-b good'), 'differs');

    const [goodPath, goodSha256] = (await appliance.command('bundle good good')).split(' ');
    await upload(page, goodPath);
    assert.equal(new URL(page.url()).pathname, '/updates');
    const manifest = (await page.locator('#bundle-manifest').textContent()).replace(/\s+/g, ' ');
    assert.match(manifest, /Product ?meldpunt/);
    assert.match(manifest, /Hardware ids ?meldpunt-box-test, another-box/);
    assert.match(manifest, /Security epoch ?2/);
    assert.match(manifest, /Signed by ?.*CN ?= ?/);
    assert.equal((await page.locator('#bundle-version').textContent()).trim(), '1.2.0');
    assert.equal((await page.locator('#bundle-sha256').textContent()).trim(), goodSha256);
    const images = (await page.locator('#bundle-images tbody').textContent()).replace(/\s+/g, ' ');
    assert.match(images, /rootfs/);
    assert.match(images, /3\.0 MiB \(3145851 bytes\)/);
    assert.match(images, /[0-9a-f]{64}/);

    // Installing without ticking the confirmation is refused, and so is a
    // confirmation of another hash.
    await page.click('form[action="/updates/install"] button');
    assert.match(await notice(page), /Tick the box to confirm/);
    await page.locator('form[action="/updates/install"] input[name="sha256"]')
        .evaluate((input) => { input.value = 'a'.repeat(64); });
    await page.check('#confirm');
    await page.click('form[action="/updates/install"] button');
    assert.match(await notice(page), /not the one you confirmed/);
    assert.equal(await appliance.command('slot-b good'), 'differs');

    await page.check('#confirm');
    await page.click('form[action="/updates/install"] button');
    // The harness's reboot command takes three seconds, so the install is
    // still running when the page first loads.
    await page.waitForSelector('#install-progress', { timeout: 60000 });
    const progress = (await page.locator('#install-progress').textContent()).replace(/\s+/g, ' ');
    assert.match(progress,
        /Installing: (preflight|checking-images|writing|checking-slot|activating|rebooting), \d+%/);
    assert.equal(await page.locator('#install-progress progress').count(), 1);
    assert.equal(await page.locator('#bundle').count(), 0, 'no upload while an install runs');
    // The page reloads itself every two seconds while the install runs.
    await page.waitForSelector('#install-result', { timeout: 120000 });
    assert.match(await page.locator('#install-result').textContent(), /The update is installed/);
    assert.equal((await page.locator('#updater-operation').textContent()).trim(), 'done');
    assert.equal(await appliance.command('slot-b good'), 'match');
    assert.equal(await appliance.command('reboot'), 'yes');

    const audit = (await appliance.command('audit')).split(' ');
    assert.equal(audit.filter((entry) => entry === 'update.rejected:').length, 4, audit.join(' '));
    for (const action of ['update.uploaded', 'update.install_started', 'update.installed'])
        assert.ok(audit.includes(`${action}:${goodSha256}`), `${action} in ${audit.join(' ')}`);
    assert.deepEqual(foreign, [], 'no request leaves the staff site');

    console.log('PASS: the technician page rejected four bad bundles and installed a confirmed one');
} finally {
    await browser.close();
    appliance.stop();
}
