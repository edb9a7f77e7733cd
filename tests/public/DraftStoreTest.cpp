#include "DraftStore.h"

#include "Process.h"

#include <catch2/catch_test_macros.hpp>

#include <fstream>

using meldpunt::FormData;
using meldpunt::ReporterCode;
using meldpunt::site::DraftStore;
using meldpunt::test::readFile;
using meldpunt::test::ScratchFolder;

namespace fs = std::filesystem;

namespace {

constexpr std::chrono::seconds kLifetime{7 * 24 * 3600};

FormData sampleForm()
{
    FormData form;
    form.add("what", "Een man met een kind <script>alert(1)</script> in het hotel");
    form.add("country", "TH");
    form.add("form_token", "hidden-token-value");
    form.add("witness", "first");
    form.add("witness", "second");
    return form;
}

void writeBytes(const fs::path& path, const std::string& bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
}

} // namespace

TEST_CASE("Draft store keeps drafts only for their code", "[core]")
{
    ScratchFolder scratch("draft-store");
    DraftStore store(scratch.path(), kLifetime);
    const auto code = ReporterCode::generate(ReporterCode::Kind::Resume);
    const auto now = DraftStore::Clock::now();
    const auto expires = store.save(code, "nl", sampleForm(), now);

    SECTION("a saved draft comes back with every field, hidden and repeated ones included")
    {
        DraftStore::Draft draft;
        REQUIRE(store.load(code, draft, now) == DraftStore::Lookup::Found);
        CHECK(draft.language == "nl");
        CHECK(draft.fields.fields() == sampleForm().fields());
        CHECK(draft.expires == expires);
        CHECK(expires - now <= kLifetime);
        CHECK(expires - now > kLifetime - std::chrono::seconds(2));
    }
    SECTION("the file holds no typed text and its name is not the code")
    {
        const fs::path file = store.pathFor(code);
        REQUIRE(fs::exists(file));
        const std::string content = readFile(file);
        CHECK(content.find("hotel") == std::string::npos);
        CHECK(content.find("hidden-token-value") == std::string::npos);
        CHECK(file.filename().string().find(code.toString()) == std::string::npos);
        CHECK((fs::status(file).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
    }
    SECTION("a wrong code finds nothing")
    {
        DraftStore::Draft draft;
        const auto other = ReporterCode::generate(ReporterCode::Kind::Resume);
        CHECK(store.load(other, draft, now) == DraftStore::Lookup::NotFound);
    }
    SECTION("saving again with the same code replaces the draft")
    {
        FormData changed;
        changed.add("what", "more detail");
        store.save(code, "en", changed, now);
        DraftStore::Draft draft;
        REQUIRE(store.load(code, draft, now) == DraftStore::Lookup::Found);
        CHECK(draft.fields.get("what") == "more detail");
        CHECK(draft.language == "en");
    }
    SECTION("a removed draft is gone")
    {
        store.remove(code);
        DraftStore::Draft draft;
        CHECK(store.load(code, draft, now) == DraftStore::Lookup::NotFound);
    }
    SECTION("another box's store cannot find the draft")
    {
        ScratchFolder otherFolder("draft-store-other");
        fs::copy_file(store.pathFor(code), otherFolder.path() / store.pathFor(code).filename());
        DraftStore other(otherFolder.path(), kLifetime);
        DraftStore::Draft draft;
        CHECK(other.load(code, draft, now) == DraftStore::Lookup::NotFound);
    }
    SECTION("the hashing key survives a restart")
    {
        DraftStore reopened(scratch.path(), kLifetime);
        DraftStore::Draft draft;
        CHECK(reopened.load(code, draft, now) == DraftStore::Lookup::Found);
    }
}

TEST_CASE("Draft store rejects changed files", "[core]")
{
    ScratchFolder scratch("draft-tamper");
    DraftStore store(scratch.path(), kLifetime);
    const auto code = ReporterCode::generate(ReporterCode::Kind::Resume);
    const auto now = DraftStore::Clock::now();
    store.save(code, "de", sampleForm(), now);
    const fs::path file = store.pathFor(code);
    const std::string original = readFile(file);
    DraftStore::Draft draft;

    SECTION("one flipped byte anywhere after the header")
    {
        for (std::size_t at = 17; at < original.size(); at += 7) {
            std::string changed = original;
            changed[at] = static_cast<char>(changed[at] ^ 0x01);
            writeBytes(file, changed);
            CAPTURE(at);
            CHECK(store.load(code, draft, now) == DraftStore::Lookup::Unreadable);
        }
    }
    SECTION("a later expiry written into the header")
    {
        std::string changed = original;
        changed[10] = static_cast<char>(changed[10] + 1);
        writeBytes(file, changed);
        CHECK(store.load(code, draft, now) == DraftStore::Lookup::Unreadable);
    }
    SECTION("a truncated file")
    {
        for (std::size_t size : {original.size() - 1, std::size_t{40}, std::size_t{17}, std::size_t{5}, std::size_t{0}}) {
            writeBytes(file, original.substr(0, size));
            CAPTURE(size);
            CHECK(store.load(code, draft, now) == DraftStore::Lookup::Unreadable);
        }
    }
    SECTION("a draft copied under another code's name")
    {
        const auto other = ReporterCode::generate(ReporterCode::Kind::Resume);
        fs::copy_file(file, store.pathFor(other));
        CHECK(store.load(other, draft, now) == DraftStore::Lookup::Unreadable);
    }
    SECTION("a damaged hashing key file stops the store from opening")
    {
        writeBytes(scratch.path() / "name-key", "short");
        CHECK_THROWS_AS(DraftStore(scratch.path(), kLifetime), std::system_error);
    }
}

TEST_CASE("Draft store expiry and sweep", "[core]")
{
    ScratchFolder scratch("draft-sweep");
    DraftStore store(scratch.path(), kLifetime);
    const auto code = ReporterCode::generate(ReporterCode::Kind::Resume);
    const auto now = DraftStore::Clock::now();
    store.save(code, "fr", sampleForm(), now);
    DraftStore::Draft draft;

    SECTION("a draft past its lifetime says it expired")
    {
        CHECK(store.load(code, draft, now + kLifetime + std::chrono::seconds(1)) == DraftStore::Lookup::Expired);
    }
    SECTION("the sweep leaves a marker without content, then removes it")
    {
        CHECK(store.sweep(now) == 0);
        const auto later = now + kLifetime + std::chrono::seconds(1);
        CHECK(store.sweep(later) == 1);
        CHECK(fs::file_size(store.pathFor(code)) == 17);
        CHECK(store.load(code, draft, later) == DraftStore::Lookup::Expired);
        CHECK(store.sweep(later + kLifetime + std::chrono::seconds(1)) == 1);
        CHECK_FALSE(fs::exists(store.pathFor(code)));
        CHECK(store.load(code, draft, later) == DraftStore::Lookup::NotFound);
        CHECK(fs::exists(scratch.path() / "name-key"));
    }
    SECTION("the sweep removes stray files but not a save in progress")
    {
        writeBytes(scratch.path() / "stray.txt", "x");
        writeBytes(scratch.path() / ".inprogress.draft.ABCDEF", "x");
        CHECK(store.sweep(now) == 1);
        CHECK_FALSE(fs::exists(scratch.path() / "stray.txt"));
        CHECK(fs::exists(scratch.path() / ".inprogress.draft.ABCDEF"));
        CHECK(store.load(code, draft, now) == DraftStore::Lookup::Found);
    }
}
