// The first setup's network and TLS certificate steps in Debian's
// chromium, against the real meldpunt-updated on a private bus: a network
// form with mistakes comes back with each one listed and marked, the
// corrected one is stored and rendered by apply-network, and the
// certificate step shows the fingerprint of the certificate this very
// connection uses. Keeping it leads to the admin form.
//
// usage: node setup-steps-journey.mjs UPDATER_HARNESS
// Exits 77 (skipped) when chromium or playwright-core is not installed.

import assert from 'node:assert/strict';
import tls from 'node:tls';
import { launchChromium, loadChromium, startHarness } from './support.mjs';

// The SHA-256 fingerprint of the certificate the staff edge presents,
// as "AB:CD:…".
function servedFingerprint(port) {
    return new Promise((resolve, reject) => {
        const socket = tls.connect({ host: 'localhost', port, servername: 'localhost', rejectUnauthorized: false },
            () => {
                resolve(socket.getPeerCertificate().fingerprint256);
                socket.end();
            });
        socket.on('error', reject);
    });
}

const chromium = await loadChromium();
const appliance = await startHarness(process.argv[2], ['--setup-steps']);
const browser = await launchChromium(chromium);

try {
    const [staffPort, setupCode] = (await appliance.command('staff')).split(' ');
    const staffOrigin = `https://localhost:${staffPort}`;
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const foreign = [];
    page.on('request', (request) => {
        if (!request.url().startsWith(staffOrigin)) foreign.push(request.url());
    });

    await page.goto(`${staffOrigin}/setup`);
    assert.equal(await page.locator('h1').textContent(), 'Set up this box: the network');
    assert.ok(await page.locator('#addressing-dhcp').isChecked(), 'DHCP is the default');

    await page.fill('#setup_code', setupCode);
    await page.check('#addressing-static');
    await page.fill('#address', '192.0.2.10');
    await page.fill('#prefix_length', '24');
    await page.fill('#gateway', '198.51.100.1');
    await page.fill('#dns', '192.0.2.1');
    await page.fill('#staff_address', '192.0.2.10');
    await page.fill('#staff_lan', '<script>alert(1)</script>');
    await page.click('button[value="network"]');

    const summary = page.locator('#setup-errors');
    assert.equal(await summary.locator('li').count(), 2);
    assert.match(await summary.locator('a[href="#gateway"]').textContent(), /outside the box's network 192\.0\.2\.0\/24/);
    assert.match(await summary.locator('a[href="#staff_lan"]').textContent(), /is not a network/);
    assert.equal(await page.locator('#gateway').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#staff_lan').inputValue(), '<script>alert(1)</script>');
    assert.equal(await page.locator('#address').inputValue(), '192.0.2.10');
    await summary.locator('a[href="#gateway"]').click();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'gateway');
    assert.equal(await appliance.command('network'), '(none)');

    await page.fill('#setup_code', setupCode);
    await page.fill('#gateway', '192.0.2.1');
    await page.fill('#staff_lan', '192.0.2.0/24 2001:db8:10::/64');
    await page.click('button[value="network"]');
    assert.equal(await page.locator('h1').textContent(), 'Set up this box: the TLS certificate');
    assert.match(await page.locator('.notice').first().textContent(), /stored and applied/);
    assert.equal(await appliance.command('network'),
        'addresses = 192.0.2.10|add element inet meldpunt staff_lan_v4 { 192.0.2.0/24 }'
        + '|add element inet meldpunt staff_lan_v6 { 2001:db8:10::/64 }');

    // The page shows the fingerprint of the certificate this connection uses.
    const shown = (await page.locator('#current-certificates code.fingerprint').first().textContent()).trim();
    assert.equal(shown, await servedFingerprint(Number(staffPort)));
    assert.match(await page.locator('#current-certificates').textContent(), /Valid until: \d{4}-\d{2}-\d{2}T/);
    assert.equal(await page.locator('#setup_code').inputValue(), setupCode, 'the accepted code is filled in');

    await page.click('button[value="certificate_keep"]');
    assert.equal(await page.locator('h1').textContent(), 'Set up this box');
    assert.equal(await page.locator('#username').count(), 1);
    assert.deepEqual(foreign, [], 'no request leaves the staff site');

    console.log('PASS: the network step named each mistake and stored the settings; the certificate step showed the served fingerprint');
} finally {
    await browser.close();
    appliance.stop();
}
