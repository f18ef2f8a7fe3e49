// Fuzz target: tokenizer models (backend/training/data/bpe_tokenizer.h, BpeTokenizer::from_json): any text
// gives a tokenizer that encodes a sample of every byte value and decodes it back unchanged, or a
// DataError / InputError.
#include <cstdint>
#include <string>

#include "backend/training/data/bpe_tokenizer.h"
#include "backend/training/data/token_file.h"
#include "fuzz/fuzz_target.h"
#include "io/input_error.h"

namespace {
const std::string& sample_text() {
  static const std::string text = [] {
    std::string t = "Once upon a time, a tiny model read 42 stories.\n  the the them then";
    for (int c = 0; c < 256; ++c) t.push_back(char(c));
    return t;
  }();
  return text;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  const std::string text = fuzz::as_string(data, size);
  fuzz::expect_result_or_refusal<backend::DataError, io::InputError>("tokenizer", [&] {
    const backend::BpeTokenizer tok = backend::BpeTokenizer::from_json(text, "fuzz-tokenizer.json");
    const std::vector<uint32_t> tokens = tok.encode(sample_text());
    for (uint32_t t : tokens)
      if (t >= tok.vocab_size()) fuzz::finding("tokenizer", "an encoded token is not below the vocabulary size");
    if (tok.decode(tokens) != sample_text()) fuzz::finding("tokenizer", "decode(encode(text)) differs from the text");
  });
  return 0;
}
