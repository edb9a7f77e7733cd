// Runs Debian's testssl.sh against the public edge of a whole appliance
// on loopback, with the test CA trusted, and fails on every finding that
// testssl.sh rates MEDIUM, HIGH or CRITICAL. testssl.sh gets the address
// (--ip 127.0.0.1) and makes no DNS look-ups (--nodns none). Without
// --phone-out it downloads no CRL and queries no OCSP responder.
//
// usage: node testssl-edge.mjs APPLIANCE_HARNESS
// Exits 77 (skipped) when testssl.sh is not installed, 1 on a finding.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const failingSeverities = new Set(['MEDIUM', 'HIGH', 'CRITICAL', 'FATAL']);
// Findings about the certificate itself are printed but do not fail the
// test. Here it comes from tests/make-test-pki (valid for 30 days, with no
// CRL or OCSP address), and in production the operator supplies it.
const testCertificateFindings = new Set(['cert_expirationStatus', 'cert_notAfter', 'cert_revocation']);
const deadlineSeconds = 240;

const testssl = ['/usr/bin/testssl', '/usr/bin/testssl.sh']
    .find((path) => spawnSync('test', ['-x', path]).status === 0);
if (!testssl) {
    console.log('SKIP: testssl.sh is not installed; run tools/install-deps');
    process.exit(77);
}
if (process.argv.length < 3) {
    console.error('usage: node testssl-edge.mjs APPLIANCE_HARNESS');
    process.exit(2);
}

const harness = spawn(process.argv[2], [], { stdio: ['pipe', 'pipe', 'inherit'] });
const harnessEnded = new Promise((resolve) => harness.on('exit', resolve));
const lines = createInterface({ input: harness.stdout })[Symbol.asyncIterator]();
const first = await lines.next();
if (first.done) {
    console.error('FAIL: the appliance harness ended before it served');
    process.exit(1);
}
const [port, caFile] = first.value.split(' ');

const scratch = mkdtempSync(join(tmpdir(), 'meldpunt-testssl-'));
const jsonFile = join(scratch, 'findings.json');
let failed = false;
try {
    const args = ['--quiet', '--warnings', 'off', '--fast', '--color', '0',
        '--ip', '127.0.0.1', '--nodns', 'none', '--add-ca', caFile,
        '--connect-timeout', '10', '--openssl-timeout', '10',
        '--jsonfile', jsonFile, `https://localhost:${port}/en/`];
    // testssl.sh starts many openssl processes, so it gets its own process
    // group, which is killed whole if the run exceeds the deadline.
    const run = spawn(testssl, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    run.stdout.on('data', (chunk) => { output += chunk; });
    run.stderr.on('data', (chunk) => { output += chunk; });
    const timer = setTimeout(() => {
        console.log(`testssl.sh timed out after ${deadlineSeconds} s; killing it`);
        try { process.kill(-run.pid, 'SIGKILL'); } catch { /* already gone */ }
    }, deadlineSeconds * 1000);
    const [code, signal] = await new Promise((resolve) => run.on('exit', (c, s) => resolve([c, s])));
    clearTimeout(timer);

    let findings;
    try {
        findings = JSON.parse(readFileSync(jsonFile, 'utf8'));
    } catch (error) {
        console.log(output);
        throw new Error(`testssl.sh wrote no readable findings (exit ${code ?? signal}): ${error.message}`);
    }
    if (signal || findings.length === 0) {
        console.log(output);
        throw new Error(`testssl.sh did not finish (exit ${code ?? signal}, ${findings.length} findings)`);
    }

    const bySeverity = {};
    for (const finding of findings)
        bySeverity[finding.severity] = (bySeverity[finding.severity] ?? 0) + 1;
    console.log(`testssl.sh findings by severity: ${JSON.stringify(bySeverity)}`);
    for (const finding of findings) {
        const line = `${finding.severity} ${finding.id}: ${finding.finding}`;
        if (finding.severity === 'WARN') {
            console.log(`note (testssl.sh warning): ${line}`);
        } else if (failingSeverities.has(finding.severity)) {
            if (testCertificateFindings.has(finding.id)) {
                console.log(`not judged (test certificate): ${line}`);
            } else {
                failed = true;
                console.log(`FINDING ${line}`);
            }
        }
    }
} catch (error) {
    failed = true;
    console.log(`FAIL: ${error.message}`);
} finally {
    rmSync(scratch, { recursive: true, force: true });
    harness.stdin.end();
    await Promise.race([harnessEnded, new Promise((resolve) => setTimeout(resolve, 60_000))]);
}

console.log(failed ? 'FAIL: testssl.sh rates the public edge MEDIUM or worse'
    : 'PASS: testssl.sh rates nothing on the public edge MEDIUM or worse');
process.exit(failed ? 1 : 0);
