// TOTP for the browser tests' staff logins: the enrolment page shows the
// key in Base32, and the login asks for the current code.

import { createHmac } from 'node:crypto';

// RFC 4648 Base32 without padding, as the enrolment page shows the key.
export function base32Decode(text) {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    let bits = 0;
    let value = 0;
    const bytes = [];
    for (const character of text) {
        value = (value << 5) | alphabet.indexOf(character);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            bytes.push((value >> bits) & 0xff);
        }
    }
    return Buffer.from(bytes);
}

// RFC 6238 with HMAC-SHA1, six digits and 30-second steps.
export function totp(secret, milliseconds = Date.now()) {
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(BigInt(Math.floor(milliseconds / 1000 / 30)));
    const digest = createHmac('sha1', secret).update(counter).digest();
    const offset = digest[digest.length - 1] & 0x0f;
    return ((digest.readUInt32BE(offset) & 0x7fffffff) % 1000000).toString().padStart(6, '0');
}
