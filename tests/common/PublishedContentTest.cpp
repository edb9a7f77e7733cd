#include "PublishedContent.h"

#include "Process.h"

#include <catch2/catch_test_macros.hpp>

#include <filesystem>
#include <fstream>
#include <stdexcept>

using namespace meldpunt;

TEST_CASE("Site content file round-trips", "[published-content]")
{
    SiteContent content;
    content.texts[{"info-faq", "nl"}] = "# Vragen\n\n<script>x</script> \"quoted\"";
    content.categories.push_back({"travel_tourism", {}});
    content.categories.push_back({"grooming_online", {{"en", "Online grooming"}, {"ru", "Груминг"}}});

    const SiteContent read = parseSiteContent(serializeSiteContent(content));
    REQUIRE(read.text("info-faq", "nl") != nullptr);
    CHECK(*read.text("info-faq", "nl") == *content.text("info-faq", "nl"));
    CHECK(read.text("info-faq", "en") == nullptr);
    REQUIRE(read.categories.size() == 2);
    CHECK(read.categories[1].id == "grooming_online");
    CHECK(read.categories[1].labels.at("ru") == "Груминг");
    CHECK(read.offersCategory("travel_tourism"));
    CHECK_FALSE(read.offersCategory("not_sure"));
}

TEST_CASE("Site content file rejects bad input", "[published-content]")
{
    CHECK_THROWS_AS(parseSiteContent("not json"), std::runtime_error);
    CHECK_THROWS_AS(parseSiteContent(R"({"format":"meldpunt-partners","version":1})"), std::runtime_error);
    CHECK_THROWS_AS(parseSiteContent(R"({"format":"meldpunt-site-content","version":2})"), std::runtime_error);
    CHECK_THROWS_AS(parseSiteContent(
                        R"({"format":"meldpunt-site-content","version":1,"categories":[{"id":"Bad Id","labels":{}}]})"),
        std::runtime_error);
    // A page that cannot be edited, such as the privacy statement, is left out.
    const auto content = parseSiteContent(R"({"format":"meldpunt-site-content","version":1,
        "texts":[{"page":"privacy","language":"en","markdown":"x"},{"page":"home","language":"en","markdown":"y"}]})");
    CHECK(content.text("privacy", "en") == nullptr);
    REQUIRE(content.text("home", "en") != nullptr);
}

TEST_CASE("Category ids are checked", "[published-content]")
{
    for (const char* id : {"travel_tourism", "ab", "x1_2", "abcdefghijklmnopqrstuvwxyz012345"})
        CHECK(isValidCategoryId(id));
    for (const char* id : {"", "a", "1abc", "_abc", "Abc", "a-b", "a b", "abcdefghijklmnopqrstuvwxyz0123456", "é_x"})
        CHECK_FALSE(isValidCategoryId(id));
}

TEST_CASE("Published site content is read back", "[published-content]")
{
    meldpunt::test::ScratchFolder scratch("published-content");
    CHECK_FALSE(readPublishedSiteContent(scratch.path()).has_value());
    CHECK(publishedSiteContentStamp(scratch.path()) == "none");
    SiteContent content;
    content.categories.push_back({"not_sure", {}});
    writePublishedSiteContent(scratch.path(), content);
    const auto file = scratch.path() / "site-content.json";
    CHECK((std::filesystem::status(file).permissions() & std::filesystem::perms::all)
        == (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write | std::filesystem::perms::group_read));
    const auto read = readPublishedSiteContent(scratch.path());
    REQUIRE(read.has_value());
    CHECK(read->offersCategory("not_sure"));
    const std::string stamp = publishedSiteContentStamp(scratch.path());
    CHECK(stamp != "none");
    CHECK(publishedSiteContentStamp(scratch.path()) == stamp);
    // A damaged file counts as none, so the site serves its built-in content.
    {
        std::ofstream damaged(file, std::ios::trunc);
        damaged << "{\"format\":";
    }
    CHECK_FALSE(readPublishedSiteContent(scratch.path()).has_value());
    // The new file has another size, so cached pages are made again.
    CHECK(publishedSiteContentStamp(scratch.path()) != stamp);
}

TEST_CASE("Editable pages exist as templates", "[published-content]")
{
    const auto templates = std::filesystem::path(MELDPUNT_SOURCE_DIR) / "webui" / "templates";
    for (const auto page : editablePages()) {
        INFO(page);
        CHECK(std::filesystem::exists(templates / (std::string(page) + ".mustache")));
    }
    CHECK_FALSE(isEditablePage("info-partners"));
    CHECK_FALSE(isEditablePage("privacy"));
    CHECK_FALSE(isEditablePage("form"));
}
