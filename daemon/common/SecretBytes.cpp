#include "SecretBytes.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace meldpunt {

namespace {

std::size_t roundUpToPages(std::size_t size)
{
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return ((size + page - 1) / page) * page;
}

} // namespace

SecretBytes::SecretBytes(std::size_t size)
    : size_(size)
    , mappedSize_(roundUpToPages(size == 0 ? 1 : size))
{
    void* memory = mmap(nullptr, mappedSize_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        throw std::system_error(errno, std::generic_category(), "mapping memory for a secret");
    if (mlock(memory, mappedSize_) != 0) {
        const int error = errno;
        munmap(memory, mappedSize_);
        throw std::system_error(error, std::generic_category(), "locking memory for a secret");
    }
    // MADV_DONTDUMP keeps the key out of core dumps even where dumps are on.
    madvise(memory, mappedSize_, MADV_DONTDUMP);
    data_ = static_cast<std::uint8_t*>(memory);
}

SecretBytes::~SecretBytes()
{
    release();
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr))
    , size_(std::exchange(other.size_, 0))
    , mappedSize_(std::exchange(other.mappedSize_, 0))
{
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept
{
    if (this != &other) {
        release();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        mappedSize_ = std::exchange(other.mappedSize_, 0);
    }
    return *this;
}

void SecretBytes::release() noexcept
{
    if (data_ == nullptr)
        return;
    OPENSSL_cleanse(data_, mappedSize_);
    munlock(data_, mappedSize_);
    munmap(data_, mappedSize_);
    data_ = nullptr;
}

SecretBytes SecretBytes::random(std::size_t size)
{
    SecretBytes secret(size);
    if (RAND_priv_bytes(secret.data(), static_cast<int>(size)) != 1)
        throw std::runtime_error("OpenSSL's random generator failed");
    return secret;
}

} // namespace meldpunt
