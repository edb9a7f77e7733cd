// The first-boot setup page in Debian's chromium: a form with mistakes is
// sent back with each mistake listed, linked to its field and marked
// beside it, and what was typed stays. The corrected form sets up the box
// and creates the first admin, and the setup code then works no more.
//
// usage: node setup-journey.mjs APPLIANCE_HARNESS
// Exits 77 (skipped) when chromium or playwright-core is not installed.

import assert from 'node:assert/strict';
import { launchChromium, loadChromium, startHarness } from './support.mjs';

const chromium = await loadChromium();
const appliance = await startHarness(process.argv[2]);
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
    assert.equal(await page.locator('h1').textContent(), 'Set up this box');
    await page.fill('#setup_code', setupCode);
    await page.fill('#organisation', 'Stichting Meldpunt Test');
    await page.fill('#time_zone', 'Europe/Atlantis');
    for (const day of ['1', '2', '3', '4', '5'])
        await page.uncheck(`#working_day_${day}`);
    await page.fill('#username', 'root');
    await page.fill('#password', 'correct horse battery');
    await page.fill('#password_again', 'correct horse battery');
    await page.click('button.primary');

    const summary = page.locator('#setup-errors');
    assert.equal(await summary.locator('li').count(), 2);
    assert.match(await summary.locator('a[href="#time_zone"]').textContent(), /not a time zone this box knows/);
    assert.match(await summary.locator('a[href="#working_days"]').textContent(), /Tick at least one working day/);
    assert.equal(await page.locator('#time_zone').getAttribute('aria-invalid'), 'true');
    assert.match(await page.locator('#time_zone-error').textContent(), /Europe\/Amsterdam/);
    assert.equal(await page.locator('#organisation').inputValue(), 'Stichting Meldpunt Test');
    // The link in the summary moves the focus to its field.
    await summary.locator('a[href="#time_zone"]').click();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'time_zone');

    await page.fill('#setup_code', setupCode);
    await page.fill('#time_zone', 'Europe/Brussels');
    for (const day of ['1', '2', '3', '4'])
        await page.check(`#working_day_${day}`);
    await page.fill('#end_of_day', '16:30');
    await page.fill('#password', 'correct horse battery');
    await page.fill('#password_again', 'correct horse battery');
    await page.click('button.primary');
    assert.match(await page.locator('.notice').textContent(), /The admin account exists/);

    // The code worked once, and the page now asks for no site details.
    await page.goto(`${staffOrigin}/setup`);
    assert.equal(await page.locator('#time_zone').count(), 0);
    await page.fill('#setup_code', setupCode);
    await page.fill('#username', 'root2');
    await page.fill('#password', 'correct horse battery');
    await page.fill('#password_again', 'correct horse battery');
    await page.click('button.primary');
    assert.match(await page.locator('#setup_code-error').textContent(), /wrong or was used already/);
    assert.deepEqual(foreign, [], 'no request leaves the staff site');

    console.log('PASS: the setup page named each mistake, kept what was typed, set up the box once');
} finally {
    await browser.close();
    appliance.stop();
}
