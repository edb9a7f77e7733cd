// The report form's first load, in every language, weighs under 50 KB:
// the page, its style sheet and its icon, as the bytes a phone on a slow
// hotel network receives. The bodies are counted as served, before any
// compression nginx might add, so the figure is an upper bound.
//
// usage: node form-weight.mjs APPLIANCE_HARNESS
// Exits 77 (skipped) when chromium or playwright-core is not installed.

import assert from 'node:assert/strict';
import { launchChromium, loadChromium, startHarness } from './support.mjs';

const languages = ['nl', 'en', 'fr', 'de', 'es', 'ru'];
const limitBytes = 50 * 1024;

const chromium = await loadChromium();
const appliance = await startHarness(process.argv[2]);
const browser = await launchChromium(chromium);
try {
    const figures = [];
    for (const language of languages) {
        // A new context has an empty cache, as a first visit does.
        const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 360, height: 740 } });
        const page = await context.newPage();
        const bodies = [];
        page.on('response', (response) => bodies.push(response.body().then((body) => body.length, () => 0)));
        await page.goto(`${appliance.origin}/${language}/report`, { waitUntil: 'load' });
        const total = (await Promise.all(bodies)).reduce((sum, size) => sum + size, 0);
        figures.push(`${language} ${total} bytes in ${bodies.length} responses`);
        assert.ok(total < limitBytes, `/${language}/report weighs ${total} bytes, over ${limitBytes}`);
        await context.close();
    }
    console.log(`PASS: the form's first load is under ${limitBytes} bytes: ${figures.join('; ')}`);
} finally {
    await browser.close();
    appliance.stop();
}
