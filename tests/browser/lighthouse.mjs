// Runs Lighthouse on the home page and the report form in English and
// Dutch, in Debian's chromium. Each page must score 100 in the
// accessibility, best-practices and SEO categories. Only category scores
// are read, because some trace-based audits return no score in this
// chromium.
//
// usage: node lighthouse.mjs APPLIANCE_HARNESS
// Exits 77 (skipped) when chromium or lighthouse is not installed, 1 when
// any category scores below 100.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const chromiumPath = '/usr/bin/chromium';
const paths = ['/en/', '/nl/', '/en/report', '/nl/report'];
const categories = ['accessibility', 'best-practices', 'seo'];

let lighthouse;
try {
    ({ default: lighthouse } = await import('lighthouse'));
} catch {
    console.log('SKIP: lighthouse is not installed; run tools/install-deps');
    process.exit(77);
}
if (!existsSync(chromiumPath)) {
    console.log(`SKIP: ${chromiumPath} is not installed; run tools/install-deps`);
    process.exit(77);
}
if (process.argv.length < 3) {
    console.error('usage: node lighthouse.mjs APPLIANCE_HARNESS');
    process.exit(2);
}

function withDeadline(promise, seconds, what) {
    let timer;
    const deadline = new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${seconds} s`)), seconds * 1000);
    });
    return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// Formats one item of an audit's details as a line: the element, URL or
// line it concerns, and Lighthouse's description.
function describe(item) {
    const parts = [];
    if (item.node)
        parts.push(item.node.selector || item.node.snippet);
    if (typeof item.source === 'string')
        parts.push(item.source);
    else if (item.source && item.source.url)
        parts.push(item.source.url);
    if (item.url)
        parts.push(item.url);
    if (item.sourceLocation && item.sourceLocation.url)
        parts.push(item.sourceLocation.url);
    if (item.line !== undefined)
        parts.push(`line ${item.index ?? ''}: ${JSON.stringify(item.line)}`);
    for (const text of [item.description, item.message, item.explanation]) {
        if (text)
            parts.push(text);
    }
    return parts.length > 0 ? parts.join(' | ') : JSON.stringify(item);
}

const harness = spawn(process.argv[2], [], { stdio: ['pipe', 'pipe', 'inherit'] });
const harnessEnded = new Promise((resolve) => harness.on('exit', resolve));
const harnessLines = createInterface({ input: harness.stdout })[Symbol.asyncIterator]();
const first = await harnessLines.next();
if (first.done) {
    console.error('FAIL: the appliance harness ended before it served');
    process.exit(1);
}
const [port] = first.value.split(' ');
const origin = `https://localhost:${port}`;

// Chromium is started here rather than through chrome-launcher, so every
// flag is visible. The profile does not trust the test CA that signed the
// site's certificate, hence --ignore-certificate-errors. No name resolves
// except localhost, so nothing reaches the internet.
const profile = mkdtempSync(join(tmpdir(), 'meldpunt-lighthouse-'));
const chromium = spawn(chromiumPath, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run',
    '--no-default-browser-check', '--disable-extensions', '--ignore-certificate-errors',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
    '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0',
    `--user-data-dir=${profile}`, 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe'] });
const chromiumEnded = new Promise((resolve) => chromium.on('exit', resolve));

let failed = false;
try {
    const debuggingPort = await withDeadline((async () => {
        for await (const line of createInterface({ input: chromium.stderr })) {
            const match = /^DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(line);
            if (match)
                return Number(match[1]);
        }
        throw new Error('chromium exited without opening its debugging port');
    })(), 30, 'starting chromium');
    chromium.stderr.resume();

    for (const path of paths) {
        const url = `${origin}${path}`;
        const result = await withDeadline(lighthouse(url, {
            port: debuggingPort,
            hostname: '127.0.0.1',
            output: 'json',
            logLevel: 'error',
            onlyCategories: categories,
            disableFullPageScreenshot: true,
        }), 180, `Lighthouse on ${path}`);
        const { lhr } = result;
        if (lhr.runtimeError)
            console.log(`note: ${path}: ${lhr.runtimeError.code}: ${lhr.runtimeError.message}`);
        for (const warning of lhr.runWarnings)
            console.log(`note: ${path}: ${warning}`);
        for (const id of categories) {
            const category = lhr.categories[id];
            const score = category && category.score !== null ? Math.round(category.score * 100) : null;
            console.log(`${path} ${id}: ${score === null ? 'no score' : score}`);
            if (score === 100)
                continue;
            failed = true;
            for (const reference of category ? category.auditRefs : []) {
                const audit = lhr.audits[reference.id];
                if (reference.weight === 0 || audit.score === null || audit.score === 1)
                    continue;
                console.log(`    FAILING ${reference.id} (score ${audit.score}, weight ${reference.weight}): ${audit.title}`);
                for (const text of [audit.explanation, audit.displayValue, audit.errorMessage]) {
                    if (text)
                        console.log(`        ${text}`);
                }
                const items = audit.details && Array.isArray(audit.details.items) ? audit.details.items : [];
                for (const item of items.slice(0, 10))
                    console.log(`        ${describe(item)}`);
            }
        }
    }
} catch (error) {
    failed = true;
    console.log(`FAIL: ${error.message}`);
} finally {
    chromium.kill('SIGTERM');
    await Promise.race([chromiumEnded, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    rmSync(profile, { recursive: true, force: true });
    harness.stdin.end();
    await Promise.race([harnessEnded, new Promise((resolve) => setTimeout(resolve, 60_000))]);
}

console.log(failed ? 'FAIL: a category scored below 100' : `PASS: ${paths.length} pages score 100 in ${categories.join(', ')}`);
process.exit(failed ? 1 : 0);
