#include "PasswordHash.h"

#include <catch2/catch_test_macros.hpp>

using namespace meldpunt::staff;

TEST_CASE("Password hashes use Argon2id", "[password]")
{
    // A cheap cost keeps the test fast; the format is the same.
    const PasswordCost cheap{1, 8 * 1024, 1};
    const std::string hash = hashPassword("correct horse battery staple", cheap);

    SECTION("the hash is in the encoded Argon2id form")
    {
        CHECK(hash.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"));
    }

    SECTION("the right password verifies and a wrong one does not")
    {
        CHECK(verifyPassword("correct horse battery staple", hash));
        CHECK_FALSE(verifyPassword("correct horse battery stapl", hash));
        CHECK_FALSE(verifyPassword("", hash));
    }

    SECTION("a hash with one changed character does not verify")
    {
        std::string tampered = hash;
        char& last = tampered[tampered.size() - 2];
        last = last == 'A' ? 'B' : 'A';
        CHECK_FALSE(verifyPassword("correct horse battery staple", tampered));
    }

    SECTION("the same password gets a different salt each time")
    {
        CHECK(hashPassword("correct horse battery staple", cheap) != hash);
    }

    SECTION("hashes of other algorithms are rejected")
    {
        CHECK_FALSE(verifyPassword("x", "$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaA"));
        CHECK_FALSE(verifyPassword("x", "plain"));
    }
}
