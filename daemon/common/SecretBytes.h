#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace meldpunt {

// A fixed-size buffer for key material. Its pages are locked in memory
// (mlock) so they never reach swap, excluded from core dumps
// (MADV_DONTDUMP), and wiped with OPENSSL_cleanse before they are freed.
// Buffers of up to 64 bytes (every key) are slots of locked pages that a
// process-wide pool keeps and reuses. Larger ones get pages of their own.
// Every buffer starts as zeros. Not copyable, but movable. One object is
// not thread-safe, but separate objects may be used from any thread.
// Construction throws std::system_error when the memory cannot be mapped
// or locked.
class SecretBytes {
public:
    explicit SecretBytes(std::size_t size);
    ~SecretBytes();

    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;
    SecretBytes(SecretBytes&& other) noexcept;
    SecretBytes& operator=(SecretBytes&& other) noexcept;

    std::uint8_t* data() { return data_; }
    const std::uint8_t* data() const { return data_; }
    std::size_t size() const { return size_; }
    std::span<std::uint8_t> span() { return {data_, size_}; }
    std::span<const std::uint8_t> span() const { return {data_, size_}; }

    // Fills the buffer from OpenSSL's private random generator.
    static SecretBytes random(std::size_t size);

private:
    void release() noexcept;

    std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t mappedSize_ = 0; // 0 for a slot of the pool
};

} // namespace meldpunt
