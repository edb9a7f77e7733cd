// A right-to-left language needs a catalog and no code: with the Arabic
// test catalog (tests/data/rtl/ar.po) the site marks its pages dir="rtl",
// and the layout mirrors: the header starts on the right, text aligns to
// the right, a radio button is to the right of its label, and nothing
// is wider than a 360 px phone. axe-core finds no WCAG A or AA violation.
//
// usage: node right-to-left.mjs APPLIANCE_HARNESS
// Run with MELDPUNT_HARNESS_LANGUAGES=nl,ar and MELDPUNT_HARNESS_WEBUI set
// to the web folder that contains the test catalog (tests/browser/CMakeLists.txt).
// Exits 77 (skipped) when chromium, playwright-core or axe is not installed.

import assert from 'node:assert/strict';
import { launchChromium, loadChromium, skipped, startHarness } from './support.mjs';

const chromium = await loadChromium();
let AxeBuilder;
try {
    ({ default: AxeBuilder } = await import('@axe-core/playwright'));
} catch {
    console.log('SKIP: @axe-core/playwright is not installed; run tools/install-deps');
    process.exit(skipped);
}

const appliance = await startHarness(process.argv[2]);
const browser = await launchChromium(chromium);
try {
    // Scripts stay on in this context: the measurements and axe need them.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 360, height: 740 } });
    const page = await context.newPage();
    for (const path of ['/ar/', '/ar/report', '/ar/privacy']) {
        await page.goto(`${appliance.origin}${path}`);
        assert.equal(await page.getAttribute('html', 'dir'), 'rtl', `${path} is marked right-to-left`);
        assert.equal(await page.getAttribute('html', 'lang'), 'ar');
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${path} is ${overflow} px wider than a 360 px screen`);
        const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
        assert.deepEqual(axe.violations.map((violation) => violation.id), [], `${path} has no axe violation`);
    }

    await page.goto(`${appliance.origin}/ar/report`);
    assert.equal((await page.locator('h1').textContent()).trim(), 'الإبلاغ عن اشتباه');
    const layout = await page.evaluate(() => {
        const box = (selector) => document.querySelector(selector).getBoundingClientRect();
        const textBox = (selector) => {
            const range = document.createRange();
            range.selectNodeContents(document.querySelector(selector));
            return range.getBoundingClientRect();
        };
        return {
            brand: box('a.brand'),
            quickExit: box('a.quick-exit'),
            label: box('label[for="what"]'),
            labelText: textBox('label[for="what"]'),
            radio: box('#contact-no'),
            radioLabel: box('label[for="contact-no"]'),
        };
    });
    assert.ok(layout.brand.left > layout.quickExit.left, 'the brand starts the header on the right');
    assert.ok(layout.label.right - layout.labelText.right < 2, 'a label aligns its text to the right');
    assert.ok(layout.labelText.left - layout.label.left > 20, 'the label text leaves room on the left');
    assert.ok(layout.radio.left > layout.radioLabel.left, 'a radio button is right of its label');
    console.log('PASS: the Arabic test catalog renders right-to-left, mirrored, without overflow or axe violations');
} finally {
    await browser.close();
    appliance.stop();
}
