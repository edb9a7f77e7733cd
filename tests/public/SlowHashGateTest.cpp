#include "SlowHashGate.h"

#include <catch2/catch_test_macros.hpp>

#include <thread>

using meldpunt::site::SlowHashGate;
using namespace std::chrono_literals;

TEST_CASE("Slow hash gate caps concurrent work", "[core]")
{
    SlowHashGate gate(2);

    SECTION("a full gate turns the next request away")
    {
        auto first = gate.enter(0ms);
        auto second = gate.enter(0ms);
        REQUIRE(first);
        REQUIRE(second);
        CHECK(gate.inUse() == 2);
        CHECK_FALSE(gate.enter(50ms));
    }
    SECTION("a released place is taken again")
    {
        auto first = gate.enter(0ms);
        auto second = gate.enter(0ms);
        first.reset();
        CHECK(gate.inUse() == 1);
        CHECK(gate.enter(0ms));
    }
    SECTION("a waiting request gets the place freed by another thread")
    {
        auto first = gate.enter(0ms);
        auto second = gate.enter(0ms);
        std::thread releaser([&] {
            std::this_thread::sleep_for(50ms);
            second.reset();
        });
        const auto waited = gate.enter(10s);
        releaser.join();
        CHECK(waited);
    }
    SECTION("many threads never hold more places than the cap")
    {
        std::atomic<unsigned> most{0};
        std::atomic<unsigned> turnedAway{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < 8; ++i) {
            threads.emplace_back([&] {
                for (int round = 0; round < 50; ++round) {
                    auto permit = gate.enter(1ms);
                    if (!permit) {
                        ++turnedAway;
                        continue;
                    }
                    const unsigned now = gate.inUse();
                    unsigned seen = most.load();
                    while (now > seen && !most.compare_exchange_weak(seen, now)) {
                    }
                    std::this_thread::sleep_for(100us);
                }
            });
        }
        for (auto& thread : threads)
            thread.join();
        CHECK(most.load() <= 2);
        CHECK(gate.inUse() == 0);
    }
}
