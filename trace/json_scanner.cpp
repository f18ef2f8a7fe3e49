// JsonScanner implementation: whitespace, strings with escapes (UTF-16 surrogates to UTF-8), the
// number grammar, a depth-limited skipper, and exact decimal conversions of number text.
#include "trace/json_scanner.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <system_error>

#include <fmt/core.h>

namespace tandem::trace {

TraceError::TraceError(const std::string& message, std::string file_, size_t offset_, size_t line_,
                       size_t column_)
    : std::runtime_error(message), file(std::move(file_)), offset(offset_), line(line_), column(column_) {}

JsonScanner::JsonScanner(std::string_view text, std::string source_name)
    : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), source_(std::move(source_name)) {}

void JsonScanner::fail_at(size_t off, const std::string& message) const {
  off = std::min(off, static_cast<size_t>(end_ - begin_));
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < off; ++i)
    if (begin_[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  const size_t column = off - line_start + 1;
  throw TraceError(fmt::format("{}:{}:{} (byte {}): {}", source_, line, column, off, message), source_, off,
                   line, column);
}

void JsonScanner::fail_eof(const char* expected) const {
  fail_at(static_cast<size_t>(end_ - begin_),
          fmt::format("unexpected end of file, expected {} (the file looks truncated)", expected));
}

void JsonScanner::skip_ws() {
  while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
}

JsonScanner::Kind JsonScanner::peek() {
  skip_ws();
  if (p_ == end_) return Kind::End;
  switch (*p_) {
    case '{': return Kind::Object;
    case '[': return Kind::Array;
    case '"': return Kind::String;
    case 't': return Kind::True;
    case 'f': return Kind::False;
    case 'n': return Kind::Null;
    default: break;
  }
  if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return Kind::Number;
  return Kind::Invalid;
}

std::string JsonScanner::describe_next() {
  switch (peek()) {
    case Kind::Object: return "an object";
    case Kind::Array: return "an array";
    case Kind::String: return "a string";
    case Kind::Number: return "a number";
    case Kind::True:
    case Kind::False: return "a boolean";
    case Kind::Null: return "null";
    case Kind::End: return "the end of the file";
    case Kind::Invalid: break;
  }
  const unsigned char c = static_cast<unsigned char>(*p_);
  if (c >= 0x20 && c < 0x7f) return fmt::format("the character '{}'", static_cast<char>(c));
  return fmt::format("the byte 0x{:02x}", c);
}

void JsonScanner::expect_char(char c, const char* what) {
  skip_ws();
  if (p_ == end_) fail_eof(what);
  if (*p_ != c) fail(fmt::format("expected {}, found {}", what, describe_next()));
  ++p_;
}

void JsonScanner::begin_object() { expect_char('{', "'{' (an object)"); }
void JsonScanner::begin_array() { expect_char('[', "'[' (an array)"); }

bool JsonScanner::next_member(bool& first, std::string_view& key) {
  skip_ws();
  if (p_ == end_) fail_eof(first ? "'\"' (a key) or '}'" : "',' or '}'");
  if (*p_ == '}') {
    ++p_;
    return false;
  }
  if (!first) {
    if (*p_ != ',') fail(fmt::format("expected ',' or '}}' after an object member, found {}", describe_next()));
    ++p_;
    skip_ws();
  }
  first = false;
  if (p_ == end_) fail_eof("'\"' (a key)");
  if (*p_ != '"') fail(fmt::format("expected a key in double quotes, found {}", describe_next()));
  key = read_string_into(key_buf_);
  expect_char(':', "':' after a key");
  return true;
}

bool JsonScanner::next_element(bool& first) {
  skip_ws();
  if (p_ == end_) fail_eof(first ? "a value or ']'" : "',' or ']'");
  if (*p_ == ']') {
    ++p_;
    return false;
  }
  if (!first) {
    if (*p_ != ',') fail(fmt::format("expected ',' or ']' after an array element, found {}", describe_next()));
    ++p_;
  }
  first = false;
  return true;
}

std::string_view JsonScanner::read_string() {
  skip_ws();
  if (p_ == end_) fail_eof("a string");
  if (*p_ != '"') fail(fmt::format("expected a string, found {}", describe_next()));
  return read_string_into(str_buf_);
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}
}  // namespace

// At the opening quote. Returns a view into the text when there is no escape, else into `buf`.
std::string_view JsonScanner::read_string_into(std::string& buf) {
  const char* open = p_;
  ++p_;
  const char* start = p_;
  while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) ++p_;
  if (p_ == end_) fail_at(static_cast<size_t>(open - begin_), "unterminated string (the file looks truncated)");
  if (*p_ == '"') {
    std::string_view s(start, static_cast<size_t>(p_ - start));
    ++p_;
    return s;
  }
  buf.assign(start, static_cast<size_t>(p_ - start));
  while (true) {
    if (p_ == end_) fail_at(static_cast<size_t>(open - begin_), "unterminated string (the file looks truncated)");
    const char c = *p_;
    if (c == '"') {
      ++p_;
      return buf;
    }
    if (static_cast<unsigned char>(c) < 0x20)
      fail(fmt::format("control character 0x{:02x} inside a string (must be escaped)", static_cast<int>(c)));
    if (c != '\\') {
      buf += c;
      ++p_;
      continue;
    }
    if (p_ + 1 >= end_) fail_eof("an escape sequence");
    const char e = p_[1];
    p_ += 2;
    switch (e) {
      case '"': buf += '"'; break;
      case '\\': buf += '\\'; break;
      case '/': buf += '/'; break;
      case 'b': buf += '\b'; break;
      case 'f': buf += '\f'; break;
      case 'n': buf += '\n'; break;
      case 'r': buf += '\r'; break;
      case 't': buf += '\t'; break;
      case 'u': {
        auto read_hex4 = [&](const char* at) -> uint32_t {
          if (end_ - at < 4) fail_eof("four hex digits after \\u");
          uint32_t v = 0;
          for (int i = 0; i < 4; ++i) {
            const int h = hex_value(at[i]);
            if (h < 0) fail_at(static_cast<size_t>(at - begin_), "expected four hex digits after \\u");
            v = v * 16 + static_cast<uint32_t>(h);
          }
          return v;
        };
        uint32_t cp = read_hex4(p_);
        const char* esc = p_ - 2;
        p_ += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u')
            fail_at(static_cast<size_t>(esc - begin_), "high surrogate \\u escape without its low surrogate");
          const uint32_t lo = read_hex4(p_ + 2);
          if (lo < 0xdc00 || lo > 0xdfff)
            fail_at(static_cast<size_t>(esc - begin_), "high surrogate \\u escape without its low surrogate");
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          p_ += 6;
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
          fail_at(static_cast<size_t>(esc - begin_), "lone low surrogate \\u escape");
        }
        append_utf8(buf, cp);
        break;
      }
      default:
        fail_at(static_cast<size_t>(p_ - 2 - begin_), fmt::format("invalid escape '\\{}' in a string", e));
    }
  }
}

std::string_view JsonScanner::read_number() {
  skip_ws();
  if (p_ == end_) fail_eof("a number");
  const char* start = p_;
  auto digit = [&] { return p_ < end_ && *p_ >= '0' && *p_ <= '9'; };
  auto bad = [&](const char* what) {
    if (p_ == end_) fail_eof(what);
    fail(fmt::format("malformed number: expected {}, found {}", what, describe_next()));
  };
  if (*p_ == '-') ++p_;
  if (!digit()) {
    p_ = start;
    fail(fmt::format("expected a number, found {}", describe_next()));
  }
  if (*p_ == '0') {
    ++p_;
    if (digit()) fail("malformed number: a leading zero must not be followed by digits");
  } else {
    while (digit()) ++p_;
  }
  if (p_ < end_ && *p_ == '.') {
    ++p_;
    if (!digit()) bad("a digit after '.'");
    while (digit()) ++p_;
  }
  if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
    ++p_;
    if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (!digit()) bad("a digit in the exponent");
    while (digit()) ++p_;
  }
  if (p_ < end_ && ((*p_ >= 'a' && *p_ <= 'z') || (*p_ >= 'A' && *p_ <= 'Z') || *p_ == '.'))
    fail(fmt::format("malformed number: unexpected '{}' after \"{}\"", *p_, std::string_view(start, size_t(p_ - start))));
  return {start, static_cast<size_t>(p_ - start)};
}

// Matches the literal `lit` (true, false, null) at the cursor.
bool JsonScanner::match_literal(std::string_view lit) {
  const size_t left = static_cast<size_t>(end_ - p_);
  if (left >= lit.size() && std::memcmp(p_, lit.data(), lit.size()) == 0) {
    p_ += lit.size();
    return true;
  }
  if (left < lit.size() && left > 0 && std::memcmp(p_, lit.data(), left) == 0)
    fail_eof(fmt::format("the rest of '{}'", lit).c_str());
  return false;
}

bool JsonScanner::read_bool() {
  skip_ws();
  if (p_ == end_) fail_eof("true or false");
  if (match_literal("true")) return true;
  if (match_literal("false")) return false;
  fail(fmt::format("expected true or false, found {}", *p_ == 't' || *p_ == 'f' ? "a misspelt literal" : describe_next()));
}

void JsonScanner::read_null() {
  skip_ws();
  if (p_ == end_) fail_eof("null");
  if (match_literal("null")) return;
  fail(fmt::format("expected null, found {}", *p_ == 'n' ? "a misspelt literal" : describe_next()));
}

std::string_view JsonScanner::skip_value() {
  skip_ws();
  const char* start = p_;
  skip_value_at(0);
  return {start, static_cast<size_t>(p_ - start)};
}

void JsonScanner::skip_value_at(int depth) {
  switch (peek()) {
    case Kind::Object: {
      if (depth >= kMaxDepth) fail(fmt::format("nesting deeper than {} levels", kMaxDepth));
      ++p_;
      bool first = true;
      std::string_view key;
      while (next_member(first, key)) skip_value_at(depth + 1);
      return;
    }
    case Kind::Array: {
      if (depth >= kMaxDepth) fail(fmt::format("nesting deeper than {} levels", kMaxDepth));
      ++p_;
      bool first = true;
      while (next_element(first)) skip_value_at(depth + 1);
      return;
    }
    case Kind::String: read_string_into(str_buf_); return;
    case Kind::Number: read_number(); return;
    case Kind::True:
    case Kind::False: read_bool(); return;
    case Kind::Null: read_null(); return;
    case Kind::End: fail_eof("a value");
    case Kind::Invalid: break;
  }
  fail(fmt::format("expected a JSON value, found {}", describe_next()));
}

void JsonScanner::expect_end() {
  skip_ws();
  if (p_ != end_) fail(fmt::format("unexpected {} after the end of the trace", describe_next()));
}

// ---------------------------------------------------------------------------------------------------
// Exact decimal conversion: num = ±D · 10^E with D the significant digits; the result is
// round(num · 10^shift) as int64.

namespace {
constexpr int kMaxDigits = 40;

struct Decimal {
  bool negative = false;
  char digits[kMaxDigits];   // significant digits, no leading zeros
  int count = 0;
  int64_t exponent = 0;      // value = 0.digits... no: value = digits · 10^exponent
  bool dropped_nonzero = false;
};

bool parse_decimal(std::string_view num, Decimal& d) {
  size_t i = 0;
  if (i < num.size() && num[i] == '-') {
    d.negative = true;
    ++i;
  }
  int64_t dropped_int_digits = 0;
  for (; i < num.size() && num[i] >= '0' && num[i] <= '9'; ++i) {
    if (d.count == 0 && num[i] == '0') continue;
    if (d.count < kMaxDigits) d.digits[d.count++] = num[i];
    else {
      ++dropped_int_digits;
      d.dropped_nonzero |= num[i] != '0';
    }
  }
  int64_t frac_kept = 0;
  if (i < num.size() && num[i] == '.') {
    for (++i; i < num.size() && num[i] >= '0' && num[i] <= '9'; ++i) {
      if (d.count == 0 && num[i] == '0') {
        ++frac_kept;   // leading zero of the fraction still shifts the exponent
        continue;
      }
      if (d.count < kMaxDigits) {
        d.digits[d.count++] = num[i];
        ++frac_kept;
      } else {
        d.dropped_nonzero |= num[i] != '0';
      }
    }
  }
  int64_t exp = 0;
  if (i < num.size() && (num[i] == 'e' || num[i] == 'E')) {
    ++i;
    bool neg = false;
    if (i < num.size() && (num[i] == '+' || num[i] == '-')) neg = num[i++] == '-';
    for (; i < num.size() && num[i] >= '0' && num[i] <= '9'; ++i)
      if (exp < 1'000'000) exp = exp * 10 + (num[i] - '0');
    if (neg) exp = -exp;
  }
  if (i != num.size()) return false;
  d.exponent = exp - frac_kept + dropped_int_digits;
  return true;
}

// round(value · 10^shift) into `out`; `exact` asks that nothing non-zero is rounded away.
bool scale_decimal(std::string_view num, int shift, bool exact, int64_t& out, const char** why) {
  Decimal d;
  if (!parse_decimal(num, d)) {
    *why = "not a number";
    return false;
  }
  if (d.count == 0) {
    out = 0;
    return true;
  }
  const int64_t s = d.exponent + shift;
  uint64_t v = 0;
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  int keep = d.count;
  bool round_up = false;
  if (s < 0) {
    const int64_t k = d.count + s;   // digits left of the decimal point
    if (k < 0) {
      keep = 0;
    } else {
      keep = static_cast<int>(k);
    }
    for (int j = keep; j < d.count; ++j)
      if (d.digits[j] != '0') {
        if (exact) {
          *why = "not an integer";
          return false;
        }
      }
    if (k >= 0 && keep < d.count) round_up = d.digits[keep] >= '5';
  }
  if (exact && d.dropped_nonzero && s < 0) {
    *why = "not an integer";
    return false;
  }
  for (int j = 0; j < keep; ++j) {
    const auto digit = static_cast<uint64_t>(d.digits[j] - '0');
    if (v > (limit - digit) / 10) {
      *why = "out of range";
      return false;
    }
    v = v * 10 + digit;
  }
  for (int64_t j = 0; s > 0 && j < s; ++j) {
    if (v > limit / 10) {
      *why = "out of range";
      return false;
    }
    v *= 10;
  }
  if (round_up) {
    if (v == limit) {
      *why = "out of range";
      return false;
    }
    ++v;
  }
  out = d.negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  return true;
}
}  // namespace

bool number_to_int64(std::string_view num, int64_t& out, const char** why) {
  return scale_decimal(num, 0, true, out, why);
}

bool micros_to_nanos(std::string_view num, int64_t& out_ns, const char** why) {
  return scale_decimal(num, 3, false, out_ns, why);
}

bool number_to_double(std::string_view num, double& out, const char** why) {
  const auto res = std::from_chars(num.data(), num.data() + num.size(), out);
  if (res.ec == std::errc::result_out_of_range) {
    *why = "out of range for a double";
    return false;
  }
  if (res.ec != std::errc() || res.ptr != num.data() + num.size()) {
    *why = "not a number";
    return false;
  }
  return true;
}

}  // namespace tandem::trace
