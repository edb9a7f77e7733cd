#include "ChunkedFile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace meldpunt::chunked {

namespace fs = std::filesystem;

namespace {

// The chunk counter (big-endian, bytes 0 to 7) and the final flag (byte
// 11). The counter never repeats under one key, because a key seals one
// file only.
std::array<std::uint8_t, crypto::kGcmNonceSize> chunkNonce(std::uint64_t counter, bool final)
{
    std::array<std::uint8_t, crypto::kGcmNonceSize> nonce{};
    for (int i = 7; i >= 0; --i) {
        nonce[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(counter & 0xff);
        counter >>= 8;
    }
    nonce[11] = final ? 1 : 0;
    return nonce;
}

std::span<const std::uint8_t> checkedKey(std::span<const std::uint8_t> key)
{
    if (key.size() != crypto::kAes256KeySize)
        throw std::invalid_argument("a chunked file needs a 32-byte key");
    return key;
}

} // namespace

Writer::Writer(fs::path path, std::span<const std::uint8_t> header, std::span<const std::uint8_t> key,
    unsigned mode, std::uint32_t chunkSize)
    : path_(std::move(path))
    , header_(header.begin(), header.end())
    , cipher_(checkedKey(key))
    , chunkSize_(chunkSize)
    , sealedCapacity_(kChunksPerWrite * (chunkSize + crypto::kGcmTagSize))
{
    fd_ = fsutil::FileDescriptor(::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!fd_)
        throw std::system_error(errno, std::generic_category(), "creating '" + path_.string() + "'");
    try {
        plain_.reserve(chunkSize_);
        sealed_ = std::make_unique_for_overwrite<std::uint8_t[]>(sealedCapacity_);
        fsutil::writeAll(fd_.get(), header_, path_);
        writeBehind_.appended(fd_.get(), header_.size());
    } catch (...) {
        abandon();
        throw;
    }
}

Writer::~Writer()
{
    if (!done_)
        abandon();
}

void Writer::write(std::span<const std::uint8_t> bytes)
{
    if (done_)
        throw std::logic_error("chunked file already finished");
    plainBytes_ += bytes.size();
    while (!bytes.empty()) {
        // Whole chunks are sealed straight from the caller's bytes.
        if (plain_.empty() && bytes.size() >= chunkSize_) {
            sealChunk(bytes.first(chunkSize_), false);
            bytes = bytes.subspan(chunkSize_);
            continue;
        }
        const std::size_t take = std::min<std::size_t>(chunkSize_ - plain_.size(), bytes.size());
        plain_.insert(plain_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
        bytes = bytes.subspan(take);
        if (plain_.size() == chunkSize_) {
            sealChunk(plain_, false);
            plain_.clear();
        }
    }
}

void Writer::sealChunk(std::span<const std::uint8_t> plain, bool final)
{
    const std::size_t size = plain.size() + crypto::kGcmTagSize;
    if (sealedSize_ + size > sealedCapacity_)
        writeSealed();
    cipher_.seal(chunkNonce(counter_++, final), header_, plain, {sealed_.get() + sealedSize_, size});
    sealedSize_ += size;
}

void Writer::writeSealed()
{
    if (sealedSize_ == 0)
        return;
    fsutil::writeAll(fd_.get(), {sealed_.get(), sealedSize_}, path_);
    writeBehind_.appended(fd_.get(), sealedSize_);
    sealedSize_ = 0;
}

void Writer::finish(Durability durability)
{
    if (done_)
        throw std::logic_error("chunked file already finished");
    // A full chunk has always been sealed as a non-final one, so the final
    // chunk is shorter than a full one (possibly empty) and a reader can
    // tell it by its length.
    sealChunk(plain_, true);
    plain_.clear();
    writeSealed();
    if (durability == Durability::Synced)
        fsutil::syncFile(fd_.get(), path_);
    fd_.reset();
    done_ = true;
}

void Writer::abandon()
{
    fd_.reset();
    ::unlink(path_.c_str());
    done_ = true;
}

Reader::Reader(const fs::path& path, std::size_t headerSize, std::uint32_t chunkSize)
    : path_(path)
    , chunkSize_(chunkSize)
{
    fd_ = fsutil::FileDescriptor(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd_)
        throw std::system_error(errno, std::generic_category(), "opening '" + path.string() + "'");
    if (readUpTo(headerSize, header_) != headerSize)
        throw IntegrityError("'" + path.filename().string() + "' is shorter than its header");
}

std::size_t Reader::readUpTo(std::size_t size, std::vector<std::uint8_t>& into)
{
    into.resize(size);
    std::size_t filled = 0;
    while (filled < size) {
        const ssize_t got = ::read(fd_.get(), into.data() + filled, size - filled);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            throw std::system_error(errno, std::generic_category(), "reading '" + path_.string() + "'");
        }
        if (got == 0)
            break;
        filled += static_cast<std::size_t>(got);
    }
    into.resize(filled);
    return filled;
}

bool Reader::next(std::span<const std::uint8_t> key, std::vector<std::uint8_t>& plain)
{
    if (finalSeen_) {
        std::vector<std::uint8_t> rest;
        if (readUpTo(1, rest) != 0)
            throw IntegrityError("data follows the final chunk of '" + path_.filename().string() + "'");
        return false;
    }
    readUpTo(chunkSize_ + crypto::kGcmTagSize, sealed_);
    if (sealed_.size() < crypto::kGcmTagSize)
        throw IntegrityError("'" + path_.filename().string() + "' is truncated (no final chunk)");
    const bool final = sealed_.size() < chunkSize_ + crypto::kGcmTagSize;
    if (!cipher_ || !std::equal(key.begin(), key.end(), cipherKey_.span().begin(), cipherKey_.span().end())) {
        cipher_.emplace(key);
        std::copy(key.begin(), key.end(), cipherKey_.data());
    }
    plain.resize(sealed_.size() - crypto::kGcmTagSize);
    try {
        cipher_->open(chunkNonce(counter_, final), header_, sealed_, plain);
    } catch (const crypto::CryptoError&) {
        plain.clear();
        throw IntegrityError("chunk " + std::to_string(counter_) + " of '" + path_.filename().string()
            + "' does not verify");
    }
    ++counter_;
    finalSeen_ = final;
    return true;
}

} // namespace meldpunt::chunked
