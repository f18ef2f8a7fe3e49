// FieldReader and the helpers behind its messages (value descriptions, nearest-name suggestions).
#include "ir/json_fields.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "io/json_document.h"
#include "ir/scenario.h"

namespace tandem::ir {

using nlohmann::json;

std::string describe_json(const json& v) { return io::describe_json_value(v); }

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string nearest_name(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_d) { best_d = d; best = c; }
  }
  // A typo changes a few characters; farther names are not suggested.
  const size_t limit = std::max<size_t>(2, std::min(word.size(), best.size()) / 3);
  if (best_d <= limit) return best;
  // A part of a name ("hidden" for "hidden_size", "nodes_per_token" for "max_nodes_per_token"): the
  // shortest candidate that contains the word, or that the word contains.
  std::string part;
  for (const auto& c : candidates) {
    const bool contains = word.size() >= 3 && c.find(word) != std::string::npos;
    const bool contained = c.size() >= 3 && word.find(c) != std::string::npos;
    if ((contains || contained) && (part.empty() || c.size() < part.size())) part = c;
  }
  return part;
}

FieldReader::FieldReader(const json& obj, std::string path, std::string file, bool inherited)
    : obj_(obj), path_(std::move(path)), file_(std::move(file)), inherited_(inherited) {
  if (!obj_.is_object()) throw ScenarioError(file_, path_.empty() ? "(top level)" : path_, "an object", describe_json(obj_));
}

void FieldReader::fail(const std::string& key, const std::string& expected, const std::string& found) const {
  throw ScenarioError(file_, path_of(key), expected, found);
}

const json* FieldReader::find(const char* key, bool required) {
  known_.emplace_back(key);
  const auto it = obj_.find(key);
  if (it == obj_.end()) {
    if (required && !inherited_) fail(key, "a value (the field is required)", "nothing: the field is missing");
    return nullptr;
  }
  return &*it;
}

bool FieldReader::has(const char* key) const { return obj_.contains(key); }

void FieldReader::skip(const char* key) { known_.emplace_back(key); }

const json* FieldReader::child(const char* key) { return find(key, false); }

void FieldReader::integer(const char* key, int64_t& value, int64_t lo, int64_t hi, bool required) {
  const json* v = find(key, required);
  if (!v) return;
  const std::string range = fmt::format("an integer in [{}, {}]", lo, hi);
  if (v->is_number_unsigned()) {
    const auto u = v->get<uint64_t>();
    if (u > uint64_t(hi) || (lo > 0 && u < uint64_t(lo))) fail(key, range, describe_json(*v));
    value = int64_t(u);
  } else if (v->is_number_integer()) {
    const auto i = v->get<int64_t>();
    if (i < lo || i > hi) fail(key, range, describe_json(*v));
    value = i;
  } else if (v->is_number_float()) {
    const double d = v->get<double>();
    // 4096.0 or 4e3 is accepted as an integer; 2.5 or 1e300 is not.
    if (!(std::floor(d) == d) || d < double(lo) || d > double(hi)) fail(key, range, describe_json(*v));
    value = int64_t(d);
  } else {
    fail(key, range, describe_json(*v));
  }
}

void FieldReader::number(const char* key, double& value, double lo, double hi, bool required) {
  const json* v = find(key, required);
  if (!v) return;
  const std::string range = fmt::format("a number in [{}, {}]", lo, hi);
  if (!v->is_number()) fail(key, range, describe_json(*v));
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) fail(key, range, describe_json(*v));
  value = d;
}

void FieldReader::boolean(const char* key, bool& value, bool required) {
  const json* v = find(key, required);
  if (!v) return;
  if (!v->is_boolean()) fail(key, "true or false", describe_json(*v));
  value = v->get<bool>();
}

void FieldReader::string(const char* key, std::string& value, bool required) {
  const json* v = find(key, required);
  if (!v) return;
  if (!v->is_string()) fail(key, "a string", describe_json(*v));
  value = v->get<std::string>();
}

void FieldReader::integer_list(const char* key, std::vector<int64_t>& value, int64_t lo, int64_t hi) {
  const json* v = find(key, false);
  if (!v) return;
  if (!v->is_array()) fail(key, fmt::format("an array of integers in [{}, {}]", lo, hi), describe_json(*v));
  std::vector<int64_t> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    const bool ok = (e.is_number_integer() || e.is_number_unsigned()) && e.get<double>() >= double(lo) &&
                    e.get<double>() <= double(hi);
    if (!ok) fail(fmt::format("{}[{}]", key, i), fmt::format("an integer in [{}, {}]", lo, hi), describe_json(e));
    out.push_back(e.get<int64_t>());
  }
  value = std::move(out);
}

void FieldReader::number_list(const char* key, std::vector<double>& value, double lo, double hi) {
  const json* v = find(key, false);
  if (!v) return;
  if (!v->is_array()) fail(key, fmt::format("an array of numbers in [{}, {}]", lo, hi), describe_json(*v));
  std::vector<double> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    if (!e.is_number() || !std::isfinite(e.get<double>()) || e.get<double>() < lo || e.get<double>() > hi)
      fail(fmt::format("{}[{}]", key, i), fmt::format("a number in [{}, {}]", lo, hi), describe_json(e));
    out.push_back(e.get<double>());
  }
  value = std::move(out);
}

void FieldReader::finish() const {
  for (const auto& [key, v] : obj_.items()) {
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    const std::string near = nearest_name(key, known_);
    std::string valid;
    for (const auto& k : known_) valid += (valid.empty() ? "" : ", ") + k;
    throw ScenarioError(file_, path_of(key),
                        near.empty() ? "one of the known keys: " + valid : "a known key such as \"" + near + "\"",
                        "the unknown key \"" + key + "\"");
  }
}

}  // namespace tandem::ir
