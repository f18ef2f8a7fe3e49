// Token files: the training data format of tandem (docs/data.md). A 40-byte little-endian header
// (magic, version, vocabulary size, bytes per token, count, FNV-1a checksum) and the tokens. Readers
// check everything and say what is wrong; writers are complete or absent (io::OutputFile).
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
// A token file is read whole: at most 16 GiB (4 G tokens of 4 bytes), refused unread above that.
inline constexpr uint64_t kMaxTokenFileBytes = uint64_t(16) << 30;
// The largest vocabulary a token file may announce (a count per token is kept for its statistics;
// the tokenizer's largest is 2^20, DeepSeek-V3's 129280).
inline constexpr uint32_t kMaxTokenFileVocab = uint32_t(1) << 24;

struct TokenFile {
  uint32_t vocab_size = 0;
  std::vector<uint32_t> tokens;
};

// FNV-1a, 64 bits, over `bytes` bytes (the checksum of token files and checkpoints).
uint64_t fnv1a64(const void* data, size_t bytes, uint64_t seed = 0xcbf29ce484222325ull);

// Throws io::InputError for a path that is not a regular file of at most kMaxTokenFileBytes (missing,
// a directory, a FIFO, a device), DataError for the content: short header, bad magic/version, a
// vocabulary above kMaxTokenFileVocab, size that disagrees with the count, checksum mismatch, a
// token >= vocab_size.
TokenFile read_token_file(const std::string& path);
// Writes `path` complete or not at all (io::OutputFile: throws io::OutputError); 2 bytes per token
// when vocab <= 65536.
void write_token_file(const std::string& path, const TokenFile& file);

// Unigram entropy of the tokens in nats: -Σ p log p over token frequencies.
double unigram_entropy_nats(const std::vector<uint32_t>& tokens, uint32_t vocab_size);

}  // namespace tandem::backend
