#include "Crypto.h"

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace crypto = meldpunt::crypto;

using crypto::Bytes;
using crypto::fromBase64;
using crypto::fromHex;
using crypto::toBase64;
using crypto::toHex;

namespace {

Bytes hex(std::string_view text)
{
    return fromHex(text);
}

std::string hexOf(const meldpunt::SecretBytes& secret)
{
    return toHex(secret.span());
}

crypto::X25519PublicKey publicKeyFromHex(std::string_view text)
{
    const Bytes bytes = fromHex(text);
    crypto::X25519PublicKey key{};
    REQUIRE(bytes.size() == key.size());
    std::copy(bytes.begin(), bytes.end(), key.begin());
    return key;
}

} // namespace

TEST_CASE("HKDF matches RFC 5869 vectors", "[crypto]")
{
    SECTION("Test case 1 (SHA-256 with salt and info)")
    {
        const Bytes ikm(22, 0x0b);
        const Bytes salt = hex("000102030405060708090a0b0c");
        const Bytes info = hex("f0f1f2f3f4f5f6f7f8f9");
        const auto okm = crypto::hkdfSha256(ikm, salt, info, 42);
        CHECK(hexOf(okm) == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
    }

    SECTION("Test case 3 (SHA-256 without salt and info)")
    {
        const Bytes ikm(22, 0x0b);
        const auto okm = crypto::hkdfSha256(ikm, {}, {}, 42);
        CHECK(hexOf(okm) == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
    }

    SECTION("Different info gives a different key")
    {
        const Bytes ikm(32, 0x42);
        const auto first = crypto::hkdfSha256(ikm, {}, crypto::asBytes("one"), 32);
        const auto second = crypto::hkdfSha256(ikm, {}, crypto::asBytes("two"), 32);
        CHECK(hexOf(first) != hexOf(second));
        CHECK(first.size() == 32);
    }
}

TEST_CASE("AES-GCM seals and opens", "[crypto]")
{
    const Bytes key = crypto::randomBytes(crypto::kAes256KeySize);
    const Bytes nonce = crypto::randomBytes(crypto::kGcmNonceSize);
    const auto associated = crypto::asBytes("header bytes");
    const auto plaintext = crypto::asBytes("a report that must stay secret");

    SECTION("A sealed text opens to the plaintext")
    {
        const Bytes sealed = crypto::seal(key, nonce, associated, plaintext);
        CHECK(sealed.size() == plaintext.size() + crypto::kGcmTagSize);
        const Bytes opened = crypto::open(key, nonce, associated, sealed);
        CHECK(opened == Bytes(plaintext.begin(), plaintext.end()));
    }

    SECTION("An empty plaintext seals to a bare tag")
    {
        const Bytes sealed = crypto::seal(key, nonce, associated, {});
        CHECK(sealed.size() == crypto::kGcmTagSize);
        CHECK(crypto::open(key, nonce, associated, sealed).empty());
    }

    SECTION("A flipped byte anywhere fails the tag")
    {
        const Bytes sealed = crypto::seal(key, nonce, associated, plaintext);
        for (std::size_t i = 0; i < sealed.size(); ++i) {
            Bytes changed = sealed;
            changed[i] ^= 0x01;
            INFO("byte " << i);
            CHECK_THROWS_AS(crypto::open(key, nonce, associated, changed), crypto::CryptoError);
        }
    }

    SECTION("Wrong associated data fails the tag")
    {
        const Bytes sealed = crypto::seal(key, nonce, associated, plaintext);
        CHECK_THROWS_AS(crypto::open(key, nonce, crypto::asBytes("header byteS"), sealed), crypto::CryptoError);
        CHECK_THROWS_AS(crypto::open(key, nonce, {}, sealed), crypto::CryptoError);
    }

    SECTION("A wrong nonce or key fails the tag")
    {
        const Bytes sealed = crypto::seal(key, nonce, associated, plaintext);
        Bytes otherNonce = nonce;
        otherNonce[11] ^= 1;
        CHECK_THROWS_AS(crypto::open(key, otherNonce, associated, sealed), crypto::CryptoError);
        Bytes otherKey = key;
        otherKey[0] ^= 1;
        CHECK_THROWS_AS(crypto::open(otherKey, nonce, associated, sealed), crypto::CryptoError);
    }

    SECTION("A text shorter than the tag is rejected")
    {
        CHECK_THROWS_AS(crypto::open(key, nonce, associated, Bytes(15)), crypto::CryptoError);
    }

    SECTION("Wrong key and nonce sizes are rejected")
    {
        CHECK_THROWS_AS(crypto::seal(Bytes(16), nonce, associated, plaintext), crypto::CryptoError);
        CHECK_THROWS_AS(crypto::seal(key, Bytes(16), associated, plaintext), crypto::CryptoError);
    }

    SECTION("Known AES-256-GCM vectors with a zero key and nonce")
    {
        const Bytes zeroKey(32, 0);
        const Bytes zeroNonce(12, 0);
        CHECK(toHex(crypto::seal(zeroKey, zeroNonce, {}, {})) == "530f8afbc74536b9a963b4f1c4cb738b");
        CHECK(toHex(crypto::seal(zeroKey, zeroNonce, {}, Bytes(16, 0)))
            == "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
    }
}

TEST_CASE("AES-GCM context matches one-shot calls", "[crypto]")
{
    const Bytes key = crypto::randomBytes(crypto::kAes256KeySize);
    const auto associated = crypto::asBytes("chunk header");
    crypto::Aes256Gcm cipher(key);

    for (std::size_t size : {0, 1, 15, 16, 17, 4096, 65536}) {
        CAPTURE(size);
        const Bytes nonce = crypto::randomBytes(crypto::kGcmNonceSize);
        const Bytes plaintext = crypto::randomBytes(size);
        Bytes sealed(size + crypto::kGcmTagSize);
        cipher.seal(nonce, associated, plaintext, sealed);
        CHECK(sealed == crypto::seal(key, nonce, associated, plaintext));

        Bytes opened(size);
        cipher.open(nonce, associated, sealed, opened);
        CHECK(opened == plaintext);
    }

    SECTION("a flipped byte fails, leaves no plaintext, and the next message still opens")
    {
        const Bytes nonce = crypto::randomBytes(crypto::kGcmNonceSize);
        const Bytes plaintext = crypto::randomBytes(100);
        Bytes sealed(plaintext.size() + crypto::kGcmTagSize);
        cipher.seal(nonce, associated, plaintext, sealed);
        Bytes changed = sealed;
        changed[3] ^= 0x01;
        Bytes opened(plaintext.size(), 0xaa);
        CHECK_THROWS_AS(cipher.open(nonce, associated, changed, opened), crypto::CryptoError);
        CHECK(opened == Bytes(plaintext.size(), 0));
        cipher.open(nonce, associated, sealed, opened);
        CHECK(opened == plaintext);
    }

    SECTION("a wrong key size, nonce size or short buffer is rejected")
    {
        CHECK_THROWS_AS(crypto::Aes256Gcm(Bytes(16)), crypto::CryptoError);
        Bytes out(crypto::kGcmTagSize + 4);
        CHECK_THROWS_AS(cipher.seal(Bytes(16), associated, Bytes(4), out), crypto::CryptoError);
        CHECK_THROWS_AS(cipher.seal(Bytes(12), associated, Bytes(5), out), std::invalid_argument);
        CHECK_THROWS_AS(cipher.open(Bytes(12), associated, Bytes(15), out), crypto::CryptoError);
    }

    SECTION("known AES-256-GCM vectors with a zero key and nonce")
    {
        crypto::Aes256Gcm zero(Bytes(32, 0));
        Bytes sealed(32);
        zero.seal(Bytes(12, 0), {}, Bytes(16, 0), sealed);
        CHECK(toHex(sealed) == "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
    }
}

TEST_CASE("X25519 matches RFC 7748 values", "[crypto]")
{
    const Bytes alicePrivate = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const Bytes bobPrivate = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    const std::string alicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    const std::string bobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    const std::string shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

    SECTION("Public keys derive from the private keys")
    {
        CHECK(toHex(crypto::X25519KeyPair::fromPrivate(alicePrivate).publicKey) == alicePublic);
        CHECK(toHex(crypto::X25519KeyPair::fromPrivate(bobPrivate).publicKey) == bobPublic);
    }

    SECTION("Both sides compute the same shared secret")
    {
        CHECK(hexOf(crypto::x25519(alicePrivate, publicKeyFromHex(bobPublic))) == shared);
        CHECK(hexOf(crypto::x25519(bobPrivate, publicKeyFromHex(alicePublic))) == shared);
    }

    SECTION("Generated pairs agree with each other")
    {
        const auto first = crypto::X25519KeyPair::generate();
        const auto second = crypto::X25519KeyPair::generate();
        CHECK(first.publicKey != second.publicKey);
        CHECK(hexOf(crypto::x25519(first.privateKey.span(), second.publicKey))
            == hexOf(crypto::x25519(second.privateKey.span(), first.publicKey)));
        CHECK(toHex(crypto::X25519KeyPair::fromPrivate(first.privateKey.span()).publicKey) == toHex(first.publicKey));
    }

    SECTION("An ephemeral agreement matches the peer's own computation")
    {
        const auto peer = crypto::X25519KeyPair::generate();
        const auto first = crypto::x25519Ephemeral(peer.publicKey);
        const auto second = crypto::x25519Ephemeral(peer.publicKey);
        CHECK(first.publicKey != second.publicKey);
        CHECK(hexOf(first.shared) == hexOf(crypto::x25519(peer.privateKey.span(), first.publicKey)));
        CHECK(hexOf(second.shared) == hexOf(crypto::x25519(peer.privateKey.span(), second.publicKey)));
    }

    SECTION("A low-order peer key is rejected")
    {
        const crypto::X25519PublicKey zero{};
        CHECK_THROWS_AS(crypto::x25519(alicePrivate, zero), crypto::CryptoError);
        CHECK_THROWS_AS(crypto::x25519Ephemeral(zero), crypto::CryptoError);
    }

    SECTION("A private key of the wrong size is rejected")
    {
        CHECK_THROWS_AS(crypto::X25519KeyPair::fromPrivate(Bytes(31, 1)), crypto::CryptoError);
    }
}

TEST_CASE("SHA-256 matches known digests", "[crypto]")
{
    SECTION("The digest of abc")
    {
        crypto::Sha256 sha;
        sha.update(crypto::asBytes("abc"));
        CHECK(toHex(sha.finish()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    SECTION("Incremental updates equal one update")
    {
        crypto::Sha256 whole;
        whole.update(crypto::asBytes("abcdefgh"));
        crypto::Sha256 parts;
        parts.update(crypto::asBytes("abc"));
        parts.update({});
        parts.update(crypto::asBytes("defgh"));
        CHECK(whole.finish() == parts.finish());
    }
}

TEST_CASE("Hex text round trips", "[crypto]")
{
    SECTION("Random bytes round trip")
    {
        for (std::size_t size : {0u, 1u, 16u, 33u}) {
            const Bytes bytes = crypto::randomBytes(size);
            const std::string text = toHex(bytes);
            CHECK(text.size() == 2 * size);
            CHECK(fromHex(text) == bytes);
        }
    }

    SECTION("Hex is lowercase on output and either case on input")
    {
        CHECK(toHex(Bytes{0x00, 0xab, 0xff}) == "00abff");
        CHECK(fromHex("00ABfF") == Bytes{0x00, 0xab, 0xff});
    }

    SECTION("Invalid hex is rejected")
    {
        for (const char* text : {"a", "abc", "0g", "zz", " 00", "00 ", "0x00", "-1"}) {
            INFO(text);
            CHECK_THROWS_AS(fromHex(text), std::invalid_argument);
        }
    }
}

TEST_CASE("Base64 text round trips", "[crypto]")
{
    SECTION("RFC 4648 vectors encode and decode")
    {
        const std::vector<std::pair<std::string, std::string>> vectors = {
            {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
            {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
        };
        for (const auto& [plain, encoded] : vectors) {
            CHECK(toBase64(crypto::asBytes(plain)) == encoded);
            const Bytes decoded = fromBase64(encoded);
            CHECK(std::string(decoded.begin(), decoded.end()) == plain);
        }
    }

    SECTION("Random bytes of every length up to 100 round trip")
    {
        for (std::size_t size = 0; size <= 100; ++size) {
            const Bytes bytes = crypto::randomBytes(size);
            INFO("size " << size);
            CHECK(fromBase64(toBase64(bytes)) == bytes);
        }
    }

    SECTION("Invalid characters and lengths are rejected")
    {
        for (const char* text : {"Z", "Zg=", "Zm9vY", "Zm9!", "Zm 9", "Zm9v\n", "Zm9v-_==", "Zm\x80v"}) {
            INFO(text);
            CHECK_THROWS_AS(fromBase64(text), std::invalid_argument);
        }
    }
}

// EVP_DecodeBlock reads '=' anywhere as zero bits, so fromBase64 must
// itself reject padding that is not at the end.
TEST_CASE("Base64 rejects misplaced padding", "[crypto]")
{
    SECTION("Padding before data is rejected")
    {
        for (const char* text : {"=Zm9", "Zg==Zm9v", "Z=9v", "Zm=v"}) {
            INFO(text);
            CHECK_THROWS_AS(fromBase64(text), std::invalid_argument);
        }
    }
}

TEST_CASE("Random bytes are fresh", "[crypto]")
{
    SECTION("Two draws differ and have the requested size")
    {
        const Bytes first = crypto::randomBytes(32);
        const Bytes second = crypto::randomBytes(32);
        CHECK(first.size() == 32);
        CHECK(first != second);
        CHECK(crypto::randomBytes(0).empty());
    }
}

namespace {

// AddressSanitizer turns mlock() into a call that does nothing, so memory
// is never locked in a sanitized build.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kMemoryLocks = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kMemoryLocks = false;
#else
constexpr bool kMemoryLocks = true;
#endif
#else
constexpr bool kMemoryLocks = true;
#endif

// Returns the "Locked:" size, in kB, of the mapping in /proc/self/smaps
// that contains `address`, or -1 when no mapping contains it.
long lockedKilobytesAt(const void* address)
{
    std::ifstream smaps("/proc/self/smaps");
    const auto where = reinterpret_cast<std::uintptr_t>(address);
    bool inside = false;
    std::string line;
    while (std::getline(smaps, line)) {
        std::uintptr_t start = 0;
        std::uintptr_t end = 0;
        char dash = 0;
        std::istringstream fields(line);
        if (fields >> std::hex >> start >> dash >> end && dash == '-') {
            inside = start <= where && where < end;
            continue;
        }
        if (inside && line.starts_with("Locked:"))
            return std::stol(line.substr(7));
    }
    return -1;
}

} // namespace

TEST_CASE("Secret buffers are locked and zeroed", "[crypto]")
{
    for (const std::size_t size : {std::size_t{0}, std::size_t{32}, std::size_t{64}, std::size_t{65}, std::size_t{5000}}) {
        meldpunt::SecretBytes secret(size);
        CAPTURE(size);
        CHECK(secret.size() == size);
        CHECK(std::all_of(secret.data(), secret.data() + size, [](std::uint8_t byte) { return byte == 0; }));
        if (kMemoryLocks)
            CHECK(lockedKilobytesAt(secret.data()) > 0);
    }

    SECTION("A slot given back is all zeros when it is handed out again")
    {
        std::vector<meldpunt::SecretBytes> inUse;
        for (int i = 0; i < 3000; ++i) {
            inUse.push_back(meldpunt::SecretBytes::random(32));
            // One slot in 500 is checked, because reading smaps is slow.
            if (kMemoryLocks && i % 500 == 0)
                CHECK(lockedKilobytesAt(inUse.back().data()) > 0);
        }
        inUse.clear();
        for (int i = 0; i < 3000; ++i) {
            const meldpunt::SecretBytes again(48);
            REQUIRE(std::all_of(again.data(), again.data() + 48, [](std::uint8_t byte) { return byte == 0; }));
        }
    }

    SECTION("Buffers used from many threads stay distinct")
    {
        std::vector<std::thread> threads;
        std::atomic<int> clashes{0};
        for (int t = 0; t < 8; ++t)
            threads.emplace_back([&clashes, t] {
                for (int i = 0; i < 2000; ++i) {
                    meldpunt::SecretBytes mine(32);
                    std::fill(mine.data(), mine.data() + 32, static_cast<std::uint8_t>(t + 1));
                    std::this_thread::yield();
                    if (!std::all_of(mine.data(), mine.data() + 32, [t](std::uint8_t byte) { return byte == t + 1; }))
                        ++clashes;
                }
            });
        for (auto& thread : threads)
            thread.join();
        CHECK(clashes == 0);
    }
}
