// Token files: the training data format of tandem (docs/data.md). A 40-byte little-endian header
// (magic, version, vocabulary size, bytes per token, count, FNV-1a checksum) and the tokens. Readers
// check everything and say what is wrong; writers go through a temporary file and a rename.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace tandem::backend {

// Bad content or an unreadable data file; the message names the file, what was expected and found.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr char kTokenFileMagic[8] = {'T', 'D', 'M', 'T', 'O', 'K', 'S', '1'};
inline constexpr uint32_t kTokenFileVersion = 1;
inline constexpr size_t kTokenFileHeaderBytes = 40;

struct TokenFile {
  uint32_t vocab_size = 0;
  std::vector<uint32_t> tokens;
};

// FNV-1a, 64 bits, over `bytes` bytes (the checksum of token files and checkpoints).
uint64_t fnv1a64(const void* data, size_t bytes, uint64_t seed = 0xcbf29ce484222325ull);

// Throws DataError: missing file, short header, bad magic/version, size that disagrees with the
// count, checksum mismatch, a token >= vocab_size.
TokenFile read_token_file(const std::string& path);
// Writes `path` atomically (path.tmp, flush, fsync, rename); 2 bytes per token when vocab <= 65536.
void write_token_file(const std::string& path, const TokenFile& file);

// Unigram entropy of the tokens in nats: -Σ p log p over token frequencies.
double unigram_entropy_nats(const std::vector<uint32_t>& tokens, uint32_t vocab_size);

// Writes `bytes` to `path` atomically: a temporary file beside it, flushed and fsynced, then
// renamed over `path` (and the directory fsynced), so a reader sees the old file or the new one.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace tandem::backend
