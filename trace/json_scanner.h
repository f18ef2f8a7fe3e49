// JsonScanner: a pull parser over JSON text held in memory (a mapped file), used to read traces of
// any size without building a document. Every error carries the file, line, column and byte offset.
// Number helpers convert the raw number text exactly (microseconds to integer nanoseconds).
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tandem::trace {

// A malformed, truncated or ill-typed trace. what() reads "FILE:LINE:COL (byte N): message".
class TraceError : public std::runtime_error {
 public:
  TraceError(const std::string& message, std::string file, size_t offset, size_t line, size_t column);
  std::string file;
  size_t offset = 0;   // bytes from the start of the file
  size_t line = 0;     // 1-based
  size_t column = 0;   // 1-based, in bytes
};

class JsonScanner {
 public:
  enum class Kind : uint8_t { Object, Array, String, Number, True, False, Null, End, Invalid };
  static constexpr int kMaxDepth = 256;

  JsonScanner(std::string_view text, std::string source_name);

  // Skips whitespace and says what the next value is (End at the end of the text).
  Kind peek();
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }
  const std::string& source_name() const { return source_; }

  void begin_object();
  // Moves to the next member of the object being read: true with `key` set, false after '}'.
  // `first` is the caller's flag for this object (true before the first member). The key view stays
  // valid until the next call of next_member.
  bool next_member(bool& first, std::string_view& key);
  void begin_array();
  bool next_element(bool& first);

  // The string's value (escapes decoded); valid until the next read_string.
  std::string_view read_string();
  // The number's text, checked against the JSON grammar.
  std::string_view read_number();
  bool read_bool();
  void read_null();
  // Skips one value of any kind (checking it) and returns its raw text.
  std::string_view skip_value();
  // Checks that only whitespace remains.
  void expect_end();

  // "a string", "an object", ... for messages about the next value.
  std::string describe_next();
  [[noreturn]] void fail_at(size_t offset, const std::string& message) const;
  [[noreturn]] void fail(const std::string& message) const { fail_at(offset(), message); }

 private:
  void skip_ws();
  bool match_literal(std::string_view lit);
  void expect_char(char c, const char* what);
  std::string_view read_string_into(std::string& buf);
  void skip_value_at(int depth);
  [[noreturn]] void fail_eof(const char* expected) const;

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string source_;
  std::string key_buf_, str_buf_;
};

// Number text (JSON grammar) to values. Each returns false when the value does not fit the target
// or is not of the asked form; `why` then says so ("not an integer", "out of range").
bool number_to_int64(std::string_view num, int64_t& out, const char** why);
bool number_to_double(std::string_view num, double& out, const char** why);
// Microseconds (possibly fractional, possibly with an exponent) to nanoseconds, exactly, rounding
// half away from zero below one nanosecond.
bool micros_to_nanos(std::string_view num, int64_t& out_ns, const char** why);

}  // namespace tandem::trace
