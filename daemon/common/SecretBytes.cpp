#include "SecretBytes.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

namespace meldpunt {

namespace {

std::size_t roundUpToPages(std::size_t size)
{
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return ((size + page - 1) / page) * page;
}

// Maps `size` bytes (whole pages), locked and excluded from core dumps.
std::uint8_t* mapLocked(std::size_t size)
{
    void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        throw std::system_error(errno, std::generic_category(), "mapping memory for a secret");
    if (mlock(memory, size) != 0) {
        const int error = errno;
        munmap(memory, size);
        throw std::system_error(error, std::generic_category(), "locking memory for a secret");
    }
    // MADV_DONTDUMP keeps the key out of core dumps even where dumps are on.
    madvise(memory, size, MADV_DONTDUMP);
    return static_cast<std::uint8_t*>(memory);
}

// Slots for secrets of up to kSlotSize bytes, cut from locked pages that
// are mapped a block at a time and never unmapped. A key costs a lock and
// a list operation instead of four system calls, and threads no longer
// interrupt each other to drop the mappings of freed keys. The pool keeps
// as many slots as were ever in use at once. A freed slot is wiped before
// it is listed again, so every slot handed out is all zeros.
class SlotPool {
public:
    static constexpr std::size_t kSlotSize = 64;
    static constexpr std::size_t kBlockSize = 64 * 1024;

    static SlotPool& instance()
    {
        static SlotPool* pool = new SlotPool; // never destroyed: secrets may outlive static destructors
        return *pool;
    }

    std::uint8_t* take()
    {
        std::lock_guard lock(mutex_);
        if (free_.empty()) {
            std::uint8_t* block = mapLocked(kBlockSize);
            slots_ += kBlockSize / kSlotSize;
            free_.reserve(slots_);
            for (std::size_t offset = kBlockSize; offset > 0; offset -= kSlotSize)
                free_.push_back(block + offset - kSlotSize);
        }
        std::uint8_t* slot = free_.back();
        free_.pop_back();
        return slot;
    }

    void give(std::uint8_t* slot) noexcept
    {
        OPENSSL_cleanse(slot, kSlotSize);
        std::lock_guard lock(mutex_);
        free_.push_back(slot); // cannot throw: there is room for every slot of every block
    }

private:
    std::mutex mutex_;
    std::vector<std::uint8_t*> free_;
    std::size_t slots_ = 0;
};

} // namespace

SecretBytes::SecretBytes(std::size_t size)
    : size_(size)
{
    if (size <= SlotPool::kSlotSize) {
        data_ = SlotPool::instance().take();
        return;
    }
    mappedSize_ = roundUpToPages(size);
    data_ = mapLocked(mappedSize_);
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
    if (mappedSize_ == 0) {
        SlotPool::instance().give(data_);
        data_ = nullptr;
        return;
    }
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
