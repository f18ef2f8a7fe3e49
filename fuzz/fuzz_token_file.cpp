// Fuzz target: token files (backend/training/data/token_file.h, read_token_file): any bytes read from a file
// give tokens below the vocabulary size, or a DataError / InputError. Each input is read twice: as it is,
// and with its token count and checksum made consistent, so that mutations reach the checks behind them.
#include <cstdint>
#include <cstring>
#include <string>

#include "backend/training/data/token_file.h"
#include "fuzz/fuzz_target.h"
#include "io/input_error.h"

namespace {
using tandem::fuzz::load_le;
using tandem::fuzz::store_le;

// The header of docs/data.md: magic, version, vocabulary size, bytes per token (offset 16), reserved,
// count (offset 24), FNV-1a of the tokens (offset 32).
std::string made_consistent(const std::string& in) {
  using tandem::backend::kTokenFileHeaderBytes;
  if (in.size() < kTokenFileHeaderBytes) return {};
  std::string b = in;
  const uint32_t width = load_le<uint32_t>(b, 16);
  if (width != 2 && width != 4) return {};
  const size_t body = b.size() - kTokenFileHeaderBytes;
  b.resize(kTokenFileHeaderBytes + body / width * width);
  store_le<uint64_t>(b, 24, body / width);
  store_le<uint64_t>(b, 32, tandem::backend::fnv1a64(b.data() + kTokenFileHeaderBytes, b.size() - kTokenFileHeaderBytes));
  return b;
}

void read(const std::string& bytes) {
  using namespace tandem;
  fuzz::with_scratch_file(bytes, "tokens.tok", [](const std::string& path) {
    fuzz::expect_result_or_refusal<backend::DataError, io::InputError>("token_file", [&] {
      const backend::TokenFile f = backend::read_token_file(path);
      for (uint32_t t : f.tokens)
        if (t >= f.vocab_size) fuzz::finding("token_file", "an accepted token is not below the vocabulary size");
    });
  });
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes = tandem::fuzz::as_string(data, size);
  read(bytes);
  if (std::string consistent = made_consistent(bytes); !consistent.empty() && consistent != bytes) read(consistent);
  return 0;
}
