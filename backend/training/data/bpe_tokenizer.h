// Byte-level BPE tokenizer: 256 byte tokens plus learned merges, trained on a text by merging the most
// frequent adjacent pair (ties: the smallest pair) inside words. Words are runs of letters and digits
// with at most one leading space; every other byte stands alone. Saved as JSON (docs/data.md).
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tandem::backend {

class BpeTokenizer {
 public:
  // Learns vocab_size - 256 merges from `text` (fewer when no pair occurs twice). vocab_size >= 256.
  static BpeTokenizer train(const std::string& text, uint32_t vocab_size);
  // Throws DataError on a malformed model (names the file, the field, expected and found), and
  // io::InputError on a path that is not a regular file of at most 64 MiB or JSON that io's bounded
  // reader refuses (nesting past its cap, a duplicate key, a number beyond a double).
  static BpeTokenizer load(const std::string& path);
  static BpeTokenizer from_json(const std::string& json_text, const std::string& source);
  std::string to_json() const;

  uint32_t vocab_size() const { return 256 + uint32_t(merges_.size()); }
  const std::vector<std::pair<uint32_t, uint32_t>>& merges() const { return merges_; }

  std::vector<uint32_t> encode(const std::string& text) const;
  // Throws DataError on a token outside the vocabulary.
  std::string decode(const std::vector<uint32_t>& tokens) const;
  std::string token_bytes(uint32_t token) const;

  // The pre-tokenizer: splits text into the words BPE works inside.
  static std::vector<std::string> split_words(const std::string& text);

 private:
  void build_tables();
  std::vector<uint32_t> encode_word(const std::string& word) const;

  std::vector<std::pair<uint32_t, uint32_t>> merges_;   // token 256 + i = merges_[i].first ++ .second
  std::unordered_map<uint64_t, uint32_t> rank_;          // pair -> merge index
  std::vector<std::string> bytes_;                       // token -> bytes
};

}  // namespace tandem::backend
