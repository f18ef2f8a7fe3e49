// Token file reading and writing, and their checksum (see token_file.h).
#include "backend/training/data/token_file.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "io/input_file.h"
#include "io/output_file.h"

namespace tandem::backend {

uint64_t fnv1a64(const void* data, size_t bytes, uint64_t seed) {
  uint64_t h = seed;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

namespace {
template <typename T>
T load_le(const unsigned char* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= T(p[i]) << (8 * i);
  return v;
}
template <typename T>
void store_le(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
}  // namespace

TokenFile read_token_file(const std::string& path) {
  // A regular file within the bound, read whole (a FIFO, a device or a directory is refused unread).
  const std::string bytes = io::read_input_file(path, kMaxTokenFileBytes, "a token file");
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < kTokenFileHeaderBytes)
    throw DataError(fmt::format("{}: not a token file: expected a {}-byte header, found a file of {} bytes", path,
                                kTokenFileHeaderBytes, bytes.size()));
  if (std::memcmp(p, kTokenFileMagic, 8) != 0)
    throw DataError(fmt::format("{}: not a token file: expected the magic \"TDMTOKS1\" at offset 0 (make one with tandem-tokenize encode)", path));
  const uint32_t version = load_le<uint32_t>(p + 8), vocab = load_le<uint32_t>(p + 12), width = load_le<uint32_t>(p + 16);
  const uint64_t count = load_le<uint64_t>(p + 24), checksum = load_le<uint64_t>(p + 32);
  if (version != kTokenFileVersion)
    throw DataError(fmt::format("{}: token file version {} is not supported (expected {})", path, version, kTokenFileVersion));
  if (width != 2 && width != 4) throw DataError(fmt::format("{}: bytes per token must be 2 or 4, found {}", path, width));
  if (vocab == 0 || (width == 2 && vocab > 65536))
    throw DataError(fmt::format("{}: vocabulary size {} does not fit {} bytes per token", path, vocab, width));
  if (vocab > kMaxTokenFileVocab)
    throw DataError(fmt::format("{}: expected a vocabulary size of at most {}, found {}", path, kMaxTokenFileVocab, vocab));
  if (count > (bytes.size() - kTokenFileHeaderBytes) / width || kTokenFileHeaderBytes + count * width != bytes.size())
    throw DataError(fmt::format("{}: the header says {} tokens ({} bytes with the header), the file has {} bytes (truncated or padded)",
                                path, count, kTokenFileHeaderBytes + count * width, bytes.size()));
  const uint64_t found = fnv1a64(p + kTokenFileHeaderBytes, count * width);
  if (found != checksum)
    throw DataError(fmt::format("{}: checksum mismatch: header {:016x}, tokens {:016x} (corrupt file)", path, checksum, found));
  TokenFile out;
  out.vocab_size = vocab;
  out.tokens.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    const unsigned char* t = p + kTokenFileHeaderBytes + i * width;
    const uint32_t v = width == 2 ? load_le<uint16_t>(t) : load_le<uint32_t>(t);
    if (v >= vocab) throw DataError(fmt::format("{}: token {} at position {} is not below the vocabulary size {}", path, v, i, vocab));
    out.tokens[i] = v;
  }
  return out;
}

void write_token_file(const std::string& path, const TokenFile& file) {
  if (file.vocab_size == 0) throw DataError(fmt::format("{}: vocabulary size must be positive", path));
  const uint32_t width = file.vocab_size <= 65536 ? 2 : 4;
  std::string body;
  body.reserve(file.tokens.size() * width);
  for (size_t i = 0; i < file.tokens.size(); ++i) {
    const uint32_t t = file.tokens[i];
    if (t >= file.vocab_size) throw DataError(fmt::format("{}: token {} at position {} is not below the vocabulary size {}", path, t, i, file.vocab_size));
    if (width == 2) store_le<uint16_t>(body, uint16_t(t));
    else store_le<uint32_t>(body, t);
  }
  std::string out(kTokenFileMagic, 8);
  store_le<uint32_t>(out, kTokenFileVersion);
  store_le<uint32_t>(out, file.vocab_size);
  store_le<uint32_t>(out, width);
  store_le<uint32_t>(out, 0);
  store_le<uint64_t>(out, file.tokens.size());
  store_le<uint64_t>(out, fnv1a64(body.data(), body.size()));
  out += body;
  io::write_output_file(path, out);
}

double unigram_entropy_nats(const std::vector<uint32_t>& tokens, uint32_t vocab_size) {
  std::vector<uint64_t> counts(vocab_size, 0);
  for (uint32_t t : tokens)
    if (t < vocab_size) ++counts[t];
  double h = 0;
  const double n = double(tokens.size());
  for (uint64_t c : counts)
    if (c) h -= double(c) / n * std::log(double(c) / n);
  return h;
}

}  // namespace tandem::backend
