// Byte-level BPE: training on word counts, greedy lowest-rank merging for encoding, JSON I/O.
#include "backend/training/data/bpe_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backend/training/data/token_file.h"
#include "io/input_file.h"
#include "io/json_document.h"

namespace tandem::backend {

namespace {
uint64_t pair_key(uint32_t a, uint32_t b) { return (uint64_t(a) << 32) | b; }
bool is_word_byte(unsigned char c) { return std::isalnum(c) || c >= 0x80; }
}  // namespace

std::vector<std::string> BpeTokenizer::split_words(const std::string& text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    if (text[j] == ' ' && j + 1 < text.size() && is_word_byte(static_cast<unsigned char>(text[j + 1]))) ++j;
    if (is_word_byte(static_cast<unsigned char>(text[j]))) {
      while (j < text.size() && is_word_byte(static_cast<unsigned char>(text[j]))) ++j;
    } else {
      ++j;
    }
    words.push_back(text.substr(i, j - i));
    i = j;
  }
  return words;
}

BpeTokenizer BpeTokenizer::train(const std::string& text, uint32_t vocab_size) {
  if (vocab_size < 256) throw DataError(fmt::format("BPE training: vocabulary size must be at least 256 (the bytes), found {}", vocab_size));
  std::map<std::string, uint64_t> counts;
  for (auto& w : split_words(text)) ++counts[w];
  struct Word {
    std::vector<uint32_t> tokens;
    uint64_t count;
  };
  std::vector<Word> words;
  for (auto& [w, c] : counts) {
    Word word{{}, c};
    for (unsigned char ch : w) word.tokens.push_back(ch);
    words.push_back(std::move(word));
  }
  BpeTokenizer tok;
  while (tok.vocab_size() < vocab_size) {
    std::unordered_map<uint64_t, uint64_t> pairs;
    for (const auto& w : words)
      for (size_t i = 0; i + 1 < w.tokens.size(); ++i) pairs[pair_key(w.tokens[i], w.tokens[i + 1])] += w.count;
    uint64_t best = 0, best_count = 0;
    for (auto [k, c] : pairs)
      if (c > best_count || (c == best_count && k < best)) {
        best = k;
        best_count = c;
      }
    if (best_count < 2) break;
    const uint32_t a = uint32_t(best >> 32), b = uint32_t(best & 0xffffffffu), merged = tok.vocab_size();
    tok.merges_.emplace_back(a, b);
    for (auto& w : words) {
      std::vector<uint32_t> out;
      out.reserve(w.tokens.size());
      for (size_t i = 0; i < w.tokens.size(); ++i) {
        if (i + 1 < w.tokens.size() && w.tokens[i] == a && w.tokens[i + 1] == b) {
          out.push_back(merged);
          ++i;
        } else {
          out.push_back(w.tokens[i]);
        }
      }
      w.tokens = std::move(out);
    }
  }
  tok.build_tables();
  return tok;
}

void BpeTokenizer::build_tables() {
  rank_.clear();
  bytes_.assign(256, std::string());
  for (int b = 0; b < 256; ++b) bytes_[size_t(b)] = std::string(1, char(b));
  for (size_t i = 0; i < merges_.size(); ++i) {
    rank_[pair_key(merges_[i].first, merges_[i].second)] = uint32_t(i);
    bytes_.push_back(bytes_[merges_[i].first] + bytes_[merges_[i].second]);
  }
}

std::vector<uint32_t> BpeTokenizer::encode_word(const std::string& word) const {
  std::vector<uint32_t> t;
  for (unsigned char ch : word) t.push_back(ch);
  for (;;) {
    uint32_t best_rank = UINT32_MAX;
    size_t at = 0;
    for (size_t i = 0; i + 1 < t.size(); ++i) {
      const auto it = rank_.find(pair_key(t[i], t[i + 1]));
      if (it != rank_.end() && it->second < best_rank) {
        best_rank = it->second;
        at = i;
      }
    }
    if (best_rank == UINT32_MAX) return t;
    t[at] = 256 + best_rank;
    t.erase(t.begin() + long(at) + 1);
  }
}

std::vector<uint32_t> BpeTokenizer::encode(const std::string& text) const {
  std::unordered_map<std::string, std::vector<uint32_t>> cache;
  std::vector<uint32_t> out;
  for (const auto& w : split_words(text)) {
    auto it = cache.find(w);
    if (it == cache.end()) it = cache.emplace(w, encode_word(w)).first;
    out.insert(out.end(), it->second.begin(), it->second.end());
  }
  return out;
}

std::string BpeTokenizer::token_bytes(uint32_t token) const {
  if (token >= bytes_.size()) throw DataError(fmt::format("token {} is outside the vocabulary of {} tokens", token, bytes_.size()));
  return bytes_[token];
}

std::string BpeTokenizer::decode(const std::vector<uint32_t>& tokens) const {
  std::string out;
  for (uint32_t t : tokens) out += token_bytes(t);
  return out;
}

std::string BpeTokenizer::to_json() const {
  nlohmann::json j;
  j["format"] = "tandem-bpe";
  j["version"] = 1;
  j["vocab_size"] = vocab_size();
  j["merges"] = nlohmann::json::array();
  for (auto [a, b] : merges_) j["merges"].push_back({a, b});
  return j.dump() + "\n";
}

BpeTokenizer BpeTokenizer::from_json(const std::string& json_text, const std::string& source) {
  nlohmann::json j;
  try {
    // io's bounded reader: nesting past its cap, a duplicate key or 1e999 are refused as io::InputError.
    j = io::parse_json_document(json_text, source, "a tokenizer model");
  } catch (const io::JsonSyntaxError& e) {
    throw DataError(fmt::format("{}: not valid JSON: at {}: {}", source, e.path(), e.found()));
  }
  auto bad = [&](const std::string& field, const std::string& expected, const nlohmann::json& found) {
    return DataError(fmt::format("{}: at {}: expected {}, found {}", source, field, expected, io::json_excerpt(found)));
  };
  if (!j.is_object()) throw bad("(root)", "an object", j);
  if (j.value("format", nlohmann::json()) != "tandem-bpe") throw bad("format", "\"tandem-bpe\"", j.value("format", nlohmann::json()));
  if (j.value("version", nlohmann::json()) != 1) throw bad("version", "1", j.value("version", nlohmann::json()));
  if (!j.contains("merges") || !j["merges"].is_array()) throw bad("merges", "an array of [a, b] pairs", j.value("merges", nlohmann::json()));
  BpeTokenizer tok;
  for (size_t i = 0; i < j["merges"].size(); ++i) {
    const auto& m = j["merges"][i];
    const uint32_t next = 256 + uint32_t(i);
    if (!m.is_array() || m.size() != 2 || !m[0].is_number_unsigned() || !m[1].is_number_unsigned() ||
        m[0].get<uint64_t>() >= next || m[1].get<uint64_t>() >= next)
      throw bad(fmt::format("merges[{}]", i), fmt::format("a pair of earlier tokens (each < {})", next), m);
    tok.merges_.emplace_back(m[0].get<uint32_t>(), m[1].get<uint32_t>());
  }
  if (j.contains("vocab_size") && j["vocab_size"] != tok.vocab_size())
    throw bad("vocab_size", fmt::format("{} (256 + the number of merges)", tok.vocab_size()), j["vocab_size"]);
  tok.build_tables();
  return tok;
}

BpeTokenizer BpeTokenizer::load(const std::string& path) {
  // 2^20 merges, the largest vocabulary trained, take about 16 MiB of JSON.
  constexpr uint64_t kMaxTokenizerBytes = uint64_t(64) << 20;
  return from_json(io::read_input_file(path, kMaxTokenizerBytes, "a tokenizer file"), path);
}

}  // namespace tandem::backend
