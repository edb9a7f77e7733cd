// What the browser tests share: loading playwright-core (or skipping when
// it is missing), running the appliance harness, and starting Debian's
// chromium so that it reaches nothing but loopback.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';

export const chromiumPath = '/usr/bin/chromium';

// Exit status that ctest reads as "skipped" (SKIP_RETURN_CODE).
export const skipped = 77;

// Returns playwright-core's chromium launcher, or exits as skipped with
// the reason when playwright-core or Debian's chromium is not installed.
export async function loadChromium() {
    let chromium;
    try {
        ({ chromium } = await import('playwright-core'));
    } catch {
        console.log('SKIP: playwright-core is not installed; run tools/install-deps');
        process.exit(skipped);
    }
    if (!existsSync(chromiumPath)) {
        console.log(`SKIP: ${chromiumPath} is not installed; run tools/install-deps`);
        process.exit(skipped);
    }
    return chromium;
}

// Starts Debian's chromium headless. The host resolver rules and the
// disabled background services keep every request on loopback.
export function launchChromium(chromium) {
    return chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run',
            '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1'],
    });
}

// Runs the appliance harness (tests/support/ApplianceHarness.cpp) and
// waits until it serves. Returns the public origin, the test CA's file
// (the test PKI's folder holds it), a function that sends
// one command and returns the line it prints in reply, and a function that stops
// the appliance.
export async function startHarness(harnessPath, args = []) {
    const harness = spawn(harnessPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: harness.stdout })[Symbol.asyncIterator]();
    async function nextLine() {
        const { value, done } = await lines.next();
        assert.ok(!done, 'the appliance harness ended early');
        return value;
    }
    const [port, caFile] = (await nextLine()).split(' ');
    return {
        origin: `https://localhost:${port}`,
        caFile,
        async command(line) {
            harness.stdin.write(`${line}\n`);
            return nextLine();
        },
        stop() {
            harness.stdin.end();
        },
    };
}
