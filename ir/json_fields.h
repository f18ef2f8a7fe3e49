// FieldReader: typed access to the fields of one JSON object with errors that name the file, the
// JSON path, what was expected and what was found; unknown keys are reported with the nearest valid one.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::ir {

std::string describe_json(const nlohmann::json& v);   // "the string \"x\"", "the number 3.5", ...
size_t edit_distance(const std::string& a, const std::string& b);
// The candidate closest to `word`, or "" when none is close enough to be a likely typo.
std::string nearest_name(const std::string& word, const std::vector<std::string>& candidates);

class FieldReader {
 public:
  // `inherited`: fields may be absent even when marked required (the object extends a base preset).
  FieldReader(const nlohmann::json& obj, std::string path, std::string file, bool inherited = false);

  // Integer in [lo, hi]. Required when `required` and not inherited; otherwise `value` is kept.
  void integer(const char* key, int64_t& value, int64_t lo, int64_t hi, bool required = false);
  void number(const char* key, double& value, double lo, double hi, bool required = false);
  void boolean(const char* key, bool& value, bool required = false);
  void string(const char* key, std::string& value, bool required = false);
  template <class E>
  void choice(const char* key, E& value, const std::vector<std::pair<std::string, E>>& options,
              bool required = false);
  void integer_list(const char* key, std::vector<int64_t>& value, int64_t lo, int64_t hi);
  void number_list(const char* key, std::vector<double>& value, double lo, double hi);
  // Marks a key as known without reading it (handled elsewhere).
  void skip(const char* key);
  bool has(const char* key) const;
  const nlohmann::json* child(const char* key);

  // Errors on keys that no reader asked for.
  void finish() const;

  [[noreturn]] void fail(const std::string& key, const std::string& expected, const std::string& found) const;
  std::string path_of(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const std::string& file() const { return file_; }

 private:
  const nlohmann::json* find(const char* key, bool required);
  const nlohmann::json& obj_;
  std::string path_, file_;
  bool inherited_;
  std::vector<std::string> known_;
};

template <class E>
void FieldReader::choice(const char* key, E& value, const std::vector<std::pair<std::string, E>>& options,
                         bool required) {
  const nlohmann::json* v = find(key, required);
  if (!v) return;
  std::vector<std::string> names;
  std::string list;
  for (const auto& [name, e] : options) {
    names.push_back(name);
    list += (list.empty() ? "" : ", ") + name;
  }
  if (!v->is_string()) fail(key, "one of " + list, describe_json(*v));
  const auto s = v->get<std::string>();
  for (const auto& [name, e] : options)
    if (name == s) { value = e; return; }
  const std::string near = nearest_name(s, names);
  fail(key, "one of " + list, describe_json(*v) + (near.empty() ? "" : " (did you mean \"" + near + "\"?)"));
}

}  // namespace tandem::ir
