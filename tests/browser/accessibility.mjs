// Checks the public site against axe-core's WCAG 2.0, 2.1 and 2.2 level
// A and AA rules in Debian's chromium, in every language, at 360 px and at
// 1280 px wide. The pages are every page linked from /LANG/ within that
// language and the report form, with validation errors and with notices
// about refused files. Then come the draft-saved page, the page of an
// expired draft, the receipt, the return page opened with the receipt and
// the complaint-received page. Last come the 404 page and the static error
// pages that nginx serves.
//
// usage: node accessibility.mjs APPLIANCE_HARNESS WEBUI_BUILD_FOLDER
// Exits 77 (skipped) when chromium, playwright-core or @axe-core/playwright
// is not installed, 1 when any page has a violation.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const chromiumPath = '/usr/bin/chromium';
const languages = ['nl', 'en', 'fr', 'de', 'es', 'ru'];
const viewports = [{ width: 360, height: 740 }, { width: 1280, height: 800 }];
const wcagTags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
// The error pages that nginx serves from files when the daemon is
// unavailable. The 413 page is also requested from nginx itself below.
const staticErrorCodes = ['413', '429', '502', '503', '504'];
// Bounds the walk through each language's links.
const maxPagesPerLanguage = 40;
// Drafts live this long here, so that the page of an expired draft can be
// checked too.
const draftSeconds = 5;

let chromium;
let AxeBuilder;
try {
    ({ chromium } = await import('playwright-core'));
} catch {
    console.log('SKIP: playwright-core is not installed; run tools/install-deps');
    process.exit(77);
}
try {
    ({ default: AxeBuilder } = await import('@axe-core/playwright'));
} catch {
    console.log('SKIP: @axe-core/playwright is not installed; run tools/install-deps');
    process.exit(77);
}
if (!existsSync(chromiumPath)) {
    console.log(`SKIP: ${chromiumPath} is not installed; run tools/install-deps`);
    process.exit(77);
}
if (process.argv.length < 4) {
    console.error('usage: node accessibility.mjs APPLIANCE_HARNESS WEBUI_BUILD_FOLDER');
    process.exit(2);
}
const errorPagesFolder = join(process.argv[3], 'errors');

const harness = spawn(process.argv[2], [], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, MELDPUNT_HARNESS_DRAFT_SECONDS: String(draftSeconds) },
});
const harnessEnded = new Promise((resolve) => harness.on('exit', resolve));
const lines = createInterface({ input: harness.stdout })[Symbol.asyncIterator]();
const first = await lines.next();
if (first.done) {
    console.error('FAIL: the appliance harness ended before it served');
    process.exit(1);
}
const [port] = first.value.split(' ');
const origin = `https://localhost:${port}`;

const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run',
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1'],
});

const violations = [];
const problems = [];
let checked = 0;

// Runs axe on the page as it is now. axe needs JavaScript, so every
// context here enables it, although the pages themselves use none. The site
// has no frames, so axe runs in legacy mode, inside the page only.
// NOTE: a run in the default mode, which opens a second page for each
// check, once stalled inside analyze() for minutes; the cause is unknown.
async function check(page, name, language, width) {
    const started = Date.now();
    let timer;
    const deadline = new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`axe timed out after 60 s on ${name} (${language}, ${width} px)`)), 60_000);
    });
    const result = await Promise.race([
        new AxeBuilder({ page }).withTags(wcagTags).setLegacyMode(true).analyze(), deadline,
    ]).finally(() => clearTimeout(timer));
    checked += 1;
    console.log(`checked ${name} (${language}, ${width} px): ${result.passes.length} rules passed, ` +
        `${result.violations.length} violated` +
        ` [${Date.now() - started} ms]`);
    for (const violation of result.violations) {
        for (const node of violation.nodes) {
            violations.push({ name, language, width, id: violation.id, impact: violation.impact,
                target: node.target.join(' '), help: violation.help, helpUrl: violation.helpUrl });
        }
    }
    if (result.incomplete.length > 0) {
        const ids = result.incomplete.map((item) => item.id).join(', ');
        console.log(`note: ${name} (${language}, ${width} px) needs a manual look for: ${ids}`);
    }
}

async function visit(page, path, expectedStatus) {
    const response = await page.goto(`${origin}${path}`);
    const status = response ? response.status() : 0;
    if (status !== expectedStatus)
        problems.push(`GET ${path} answered ${status}, not ${expectedStatus}`);
}

function sleep(milliseconds) {
    return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

// Opens the return page with a receipt. meldpuntd publishes a new report's
// receipt after its next ingest pass, so the first tries may not find it.
async function openReturnPage(page, language, reference, secret) {
    for (let attempt = 0; attempt < 30; attempt += 1) {
        await page.goto(`${origin}/${language}/return`);
        await page.fill('#reference', reference);
        await page.fill('#secret', secret);
        await Promise.all([page.waitForNavigation(), page.click('button[value="open"]')]);
        if (await page.locator('#message').count() > 0)
            return;
        await sleep(500);
    }
    problems.push(`the return page in ${language} did not open with a fresh receipt`);
}

async function expectStatus(response, what, expectedStatus) {
    const status = response ? response.status() : 0;
    if (status !== expectedStatus)
        problems.push(`${what} answered ${status}, not ${expectedStatus}`);
}

try {
    for (const viewport of viewports) {
        const context = await browser.newContext({ viewport, ignoreHTTPSErrors: true });
        const page = await context.newPage();
        page.on('request', (request) => {
            const url = request.url();
            if (!url.startsWith(origin) && !url.startsWith('data:'))
                problems.push(`a request left the site: ${url}`);
        });
        // The static error pages are served from the build folder under
        // a path of the site itself, so their style sheet comes from nginx
        // as it does when nginx serves them.
        await page.route(`${origin}/.error-page-preview/**`, async (route) => {
            const [, , language, file] = new URL(route.request().url()).pathname.split('/');
            await route.fulfill({
                status: Number.parseInt(file, 10),
                contentType: 'text/html; charset=utf-8',
                body: readFileSync(join(errorPagesFolder, language, file)),
            });
        });
        const width = viewport.width;

        for (const language of languages) {
            // Every page linked from /LANG/ in the same language, plus
            // the privacy statement and the pages for resuming a draft
            // and for returning to a report.
            const queue = [`/${language}/`, `/${language}/privacy`, `/${language}/resume`, `/${language}/return`];
            const seen = new Set(queue);
            for (let index = 0; index < queue.length && index < maxPagesPerLanguage; index += 1) {
                await visit(page, queue[index], 200);
                await check(page, `page ${queue[index]}`, language, width);
                const links = await page.$$eval('a[href]', (anchors) => anchors.map((a) => a.href));
                for (const link of links) {
                    const url = new URL(link);
                    if (url.origin !== origin || !url.pathname.startsWith(`/${language}/`))
                        continue;
                    if (url.pathname === `/${language}/report` || seen.has(url.pathname))
                        continue;
                    seen.add(url.pathname);
                    queue.push(url.pathname);
                }
            }
            if (queue.length > maxPagesPerLanguage)
                problems.push(`more than ${maxPagesPerLanguage} pages in ${language}; raise the limit`);

            // The report form (at /LANG/report, or at /LANG/ on a site
            // without a home page).
            await visit(page, `/${language}/report`, 200);
            await check(page, 'report form', language, width);

            // A draft saved; it is resumed after it expired at the end.
            let response;
            await page.fill('#what', 'An accessibility test draft.');
            [response] = await Promise.all([page.waitForNavigation(), page.click('button[name="save_draft"]')]);
            await expectStatus(response, `a saved draft in ${language}`, 200);
            await check(page, 'draft saved', language, width);
            const draftCode = (await page.locator('.resume-code').textContent()).trim();
            const draftSavedAt = Date.now();

            // A file whose content does not match its name: the form comes
            // back with the notice about it.
            await visit(page, `/${language}/report`, 200);
            await page.setInputFiles('#files', {
                name: 'statement.pdf', mimeType: 'application/pdf',
                buffer: Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(4096, 7)]),
            });
            [response] = await Promise.all([page.waitForNavigation(), page.click('button[name="attach_files"]')]);
            await expectStatus(response, `a refused file in ${language}`, 200);
            if (await page.locator('#upload-notices').count() === 0)
                problems.push(`the form in ${language} shows no notice about a refused file`);
            await check(page, 'form with upload notices', language, width);

            // The complaint form sent: the complaint-received page.
            await visit(page, `/${language}/complaint`, 200);
            await page.fill('#message', 'An accessibility test complaint.');
            [response] = await Promise.all([page.waitForNavigation(), page.click('button.primary')]);
            await expectStatus(response, `a complaint in ${language}`, 200);
            await check(page, 'complaint received', language, width);

            await visit(page, `/${language}/this-page-does-not-exist`, 404);
            await check(page, '404 page', language, width);

            // Sent empty: every required field shows its error.
            await visit(page, `/${language}/report`, 200);
            [response] = await Promise.all([page.waitForNavigation(), page.click('button.primary')]);
            await expectStatus(response, `the empty form in ${language}`, 422);
            await check(page, 'form with errors (sent empty)', language, width);

            // Contact chosen with a wrong e-mail address: the errors inside
            // the contact details.
            await page.check('#contact-yes');
            await page.fill('#email', 'not an address');
            [response] = await Promise.all([page.waitForNavigation(), page.click('button.primary')]);
            await expectStatus(response, `the form with a wrong e-mail address in ${language}`, 422);
            await check(page, 'form with errors (wrong e-mail address)', language, width);

            // A valid report: the receipt.
            await visit(page, `/${language}/report`, 200);
            await page.fill('#what', 'An accessibility test report.');
            await page.selectOption('#country', 'unknown');
            await page.check('#category-unsure');
            await page.check('#contact-no');
            await page.check('#consent-box');
            [response] = await Promise.all([page.waitForNavigation(), page.click('button.primary')]);
            await expectStatus(response, `a valid report in ${language}`, 200);
            await check(page, 'receipt', language, width);

            // The return page opened with that receipt.
            const reference = (await page.locator('.reference').textContent()).trim();
            const secret = (await page.locator('.receipt-secret').textContent()).trim();
            await openReturnPage(page, language, reference, secret);
            await check(page, 'return page, opened', language, width);

            // A text larger than any report: meldpunt-public sends its 413
            // page, because the edge lets far larger report bodies through.
            await visit(page, `/${language}/report`, 200);
            await page.evaluate(() => {
                document.querySelector('#what').value = 'x'.repeat(2 * 1024 * 1024);
            });
            [response] = await Promise.all([page.waitForNavigation(), page.click('button.primary')]);
            await expectStatus(response, `an oversized report in ${language}`, 413);
            await check(page, '413 page for an oversized text', language, width);

            // The draft saved above, resumed after it expired.
            await sleep(Math.max(0, draftSavedAt + (draftSeconds + 1) * 1000 - Date.now()));
            await visit(page, `/${language}/resume`, 200);
            await page.fill('#code', draftCode);
            [response] = await Promise.all([page.waitForNavigation(), page.click('button.primary')]);
            await expectStatus(response, `an expired draft in ${language}`, 410);
            await check(page, 'expired draft', language, width);

            for (const code of staticErrorCodes) {
                await visit(page, `/.error-page-preview/${language}/${code}.html`, Number(code));
                await check(page, `static ${code} page`, language, width);
            }
        }
        await context.close();
    }
} finally {
    await browser.close();
    harness.stdin.end();
    await Promise.race([harnessEnded, new Promise((resolve) => setTimeout(resolve, 60_000))]);
}

for (const found of violations) {
    console.log(`VIOLATION ${found.name} (${found.language}, ${found.width} px): ` +
        `${found.id} [${found.impact}] at ${found.target}`);
    console.log(`    ${found.help}: ${found.helpUrl}`);
}
for (const problem of problems)
    console.log(`PROBLEM ${problem}`);
const failed = violations.length > 0 || problems.length > 0;
console.log(`${failed ? 'FAIL' : 'PASS'}: ${checked} page views checked with axe-core, ` +
    `${violations.length} violations, ${problems.length} other problems`);
process.exit(failed ? 1 : 0);
