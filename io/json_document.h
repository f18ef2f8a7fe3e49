// The one bounded JSON reader for users' input (scenarios, --set values, calibration tables, expert
// loads, tokenizer models, checkpoint metadata): nesting capped before anything deeper is built,
// duplicate keys refused naming both places, syntax errors with line and column, all as InputError.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "io/input_error.h"

namespace tandem::io {

// The deepest nesting of arrays and objects a document may have. Real inputs nest fewer than 10
// levels; the cap keeps every recursive walk of a document (copy, compare, dump) far from the stack's end.
inline constexpr size_t kMaxJsonDepth = 128;

// A syntax error: the text is not JSON. (--set values that are not JSON are taken as strings, so
// they tell this apart from the other refusals: too deep, a duplicate key, a number out of range.)
class JsonSyntaxError : public InputError {
 public:
  using InputError::InputError;
};

// Parses `text`, read from `where` (a file name or an option), as one JSON document. `what` names
// the expected content in refusals ("a scenario"). Throws InputError (JsonSyntaxError for syntax).
nlohmann::json parse_json_document(std::string_view text, const std::string& where, std::string_view what,
                                   size_t max_depth = kMaxJsonDepth);

// read_input_file (type and size checks) followed by parse_json_document.
nlohmann::json read_json_document(const std::string& path, uint64_t max_bytes, std::string_view what,
                                  size_t max_depth = kMaxJsonDepth);

// At most `max_chars` characters of `value` as compact JSON, "..." and the omission marked when cut.
// Never recurses deeper than kMaxJsonDepth and never writes the whole of a large value: the way to
// show a found value in a message.
std::string json_excerpt(const nlohmann::json& value, size_t max_chars = 60);

// "the string \"x\"", "the number 3.5", "an array [1,2,...", with the value cut by json_excerpt.
std::string describe_json_value(const nlohmann::json& value, size_t max_chars = 60);

}  // namespace tandem::io
