// parse_json_document: nlohmann's iterative parser drives a SAX handler of ours that builds the
// document, tracks the JSON path and the byte offset read so far, refuses nesting past the cap before
// building it and refuses a key that its object already holds (a second pass finds the first one).
#include "io/json_document.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <vector>

#include <fmt/format.h>

#include "io/input_file.h"

namespace tandem::io {

using nlohmann::json;

namespace {

// A pointer into the text that records, in the parser that owns it, how far it has read: the SAX
// events carry no positions, so the handler reads them from here.
class CountingIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator() = default;
  CountingIterator(const char* at, const char** furthest) : at_(at), furthest_(furthest) {}
  reference operator*() const { return *at_; }
  CountingIterator& operator++() {
    ++at_;
    if (furthest_) *furthest_ = at_;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const CountingIterator& other) const { return at_ == other.at_; }
  bool operator!=(const CountingIterator& other) const { return at_ != other.at_; }

 private:
  const char* at_ = nullptr;
  const char** furthest_ = nullptr;
};

// "line L col C" of a byte offset (both counted from 1; the column in bytes).
std::string line_col(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  const std::string_view before = text.substr(0, offset);
  const size_t line = size_t(std::count(before.begin(), before.end(), '\n')) + 1;
  const size_t line_start = before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
  return fmt::format("line {} col {}", line, offset - line_start + 1);
}

// The offset of the opening quote of the string token that ends just before `end`.
size_t string_start(std::string_view text, size_t end) {
  if (end < 2) return 0;
  size_t i = end - 1;   // the closing quote
  while (i > 0) {
    --i;
    if (text[i] != '"') continue;
    size_t backslashes = 0;
    while (i >= backslashes + 1 && text[i - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return i;   // a quote inside a string is always escaped
  }
  return 0;
}

// One open array or object: where the parser is inside it.
struct Frame {
  bool array = false;
  size_t elements = 0;   // arrays: values begun so far (the current one is elements - 1)
  std::string key;       // objects: the current key
};

std::string render_path(const std::vector<Frame>& frames) {
  std::string out;
  for (const Frame& f : frames) {
    if (f.array) {
      if (f.elements > 0) out += fmt::format("[{}]", f.elements - 1);
    } else if (!f.key.empty() || !out.empty()) {
      out += (out.empty() ? "" : ".") + f.key;
    }
  }
  return out;
}

bool same_place(const Frame& a, const Frame& b) {
  return a.array == b.array && (a.array ? a.elements == b.elements : a.key == b.key);
}

// Builds the document (or, in locate mode, only finds where `target_key` first appears in the object
// at `target`), refusing what the reader's rules refuse.
class BoundedHandler {
 public:
  BoundedHandler(std::string_view text, const std::string& where, std::string_view what, size_t max_depth,
                 const char** cursor)
      : text_(text), where_(where), what_(what), max_depth_(max_depth), cursor_(cursor) {}

  // Locate mode: stop at the first key `key` of the object whose enclosing frames match `frames`.
  void locate(std::vector<Frame> frames, std::string key) {
    locating_ = true;
    target_ = std::move(frames);
    target_key_ = std::move(key);
  }
  size_t located_offset() const { return located_; }
  json& root() { return root_; }

  bool null() { return add(json(nullptr)); }
  bool boolean(bool v) { return add(json(v)); }
  bool number_integer(json::number_integer_t v) { return add(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return add(json(v)); }
  bool number_float(json::number_float_t v, const std::string&) { return add(json(v)); }
  bool string(std::string& v) { return add(json(std::move(v))); }
  bool binary(json::binary_t& v) { return add(json(std::move(v))); }

  bool start_object(std::size_t) { return open(json::object(), false); }
  bool start_array(std::size_t) { return open(json::array(), true); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(std::string& k) {
    Frame& f = frames_.back();
    if (locating_) {
      if (k == target_key_ && frames_.size() == target_.size() &&
          std::equal(frames_.begin(), frames_.end() - 1, target_.begin(), same_place)) {
        located_ = string_start(text_, offset());
        return false;   // found: stop parsing
      }
      f.key = std::move(k);
      return true;
    }
    auto& object = refs_.back()->get_ref<json::object_t&>();
    if (object.find(k) != object.end()) {
      duplicate_ = true;
      duplicate_offset_ = string_start(text_, offset());
      duplicate_frames_ = frames_;
      duplicate_key_ = k;
      f.key = k;
      duplicate_path_ = render_path(frames_);
      return false;
    }
    object_element_ = &object[k];
    f.key = std::move(k);
    return true;
  }

  bool parse_error(std::size_t position, const std::string& last_token, const nlohmann::detail::exception& e) {
    const std::string path = render_path(frames_);
    if (e.id == 406) {   // out_of_range: a number literal beyond a double
      throw InputError(where_, place(path, position > last_token.size() ? position - last_token.size() : 0),
                       "numbers within the range of a double (about ±1.8e308)",
                       fmt::format("the number {}", cut_for_message(last_token, 40)));
    }
    if (text_.find_first_not_of(" \t\r\n") == std::string_view::npos)
      throw JsonSyntaxError(where_, "(file)", fmt::format("{} in JSON", what_), "an empty document");
    if (position > text_.size())   // the parser counts the end of the text as one more character read
      throw JsonSyntaxError(where_, place(path, text_.size()), fmt::format("{} in complete JSON", what_),
                            "the end of the text (truncated?)");
    std::string why = e.what();
    const size_t syntax = why.find("syntax error");
    if (syntax != std::string::npos) why = why.substr(syntax);
    throw JsonSyntaxError(where_, place(path, position > 0 ? position - 1 : 0), fmt::format("{} in JSON", what_),
                          fmt::format("invalid JSON ({})", cut_for_message(why, 120)));
  }

  bool duplicate() const { return duplicate_; }
  const std::vector<Frame>& duplicate_frames() const { return duplicate_frames_; }
  const std::string& duplicate_key() const { return duplicate_key_; }
  const std::string& duplicate_path() const { return duplicate_path_; }
  size_t duplicate_offset() const { return duplicate_offset_; }

  // The path (its middle left out when long, so that the position always shows) and the position.
  std::string place(const std::string& path, size_t offset) const {
    if (path.empty()) return line_col(text_, offset);
    const std::string shown = path.size() <= 100 ? path : path.substr(0, 48) + "..." + path.substr(path.size() - 40);
    return fmt::format("{} ({})", shown, line_col(text_, offset));
  }

 private:
  size_t offset() const { return size_t(*cursor_ - text_.data()); }

  void begin_value() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().elements;
  }

  bool add(json&& v) {
    begin_value();
    if (locating_) return true;
    if (refs_.empty()) {
      root_ = std::move(v);
    } else if (refs_.back()->is_array()) {
      refs_.back()->get_ref<json::array_t&>().push_back(std::move(v));
    } else {
      *object_element_ = std::move(v);
    }
    return true;
  }

  bool open(json&& empty, bool array) {
    begin_value();
    if (frames_.size() >= max_depth_) {
      throw InputError(where_, place(render_path(frames_), offset() > 0 ? offset() - 1 : 0),
                       fmt::format("{} nested at most {} levels deep", what_, max_depth_),
                       "deeper nesting of arrays and objects");
    }
    frames_.push_back(Frame{array, 0, {}});
    if (locating_) return true;
    json* slot = nullptr;
    if (refs_.empty()) {
      root_ = std::move(empty);
      slot = &root_;
    } else if (refs_.back()->is_array()) {
      auto& a = refs_.back()->get_ref<json::array_t&>();
      a.push_back(std::move(empty));
      slot = &a.back();
    } else {
      *object_element_ = std::move(empty);
      slot = object_element_;
    }
    refs_.push_back(slot);
    return true;
  }

  bool close() {
    frames_.pop_back();
    if (!locating_) refs_.pop_back();
    return true;
  }

  std::string_view text_;
  const std::string& where_;
  std::string_view what_;
  size_t max_depth_;
  const char** cursor_;

  json root_;
  std::vector<json*> refs_;
  json* object_element_ = nullptr;
  std::vector<Frame> frames_;

  bool duplicate_ = false;
  std::vector<Frame> duplicate_frames_;
  std::string duplicate_key_, duplicate_path_;
  size_t duplicate_offset_ = 0;

  bool locating_ = false;
  std::vector<Frame> target_;
  std::string target_key_;
  size_t located_ = 0;
};

bool run_parser(std::string_view text, BoundedHandler& handler, const char*& cursor) {
  cursor = text.data();
  return json::sax_parse(CountingIterator(text.data(), &cursor), CountingIterator(text.data() + text.size(), &cursor),
                         &handler);
}

void excerpt_into(const json& v, std::string& out, size_t max_chars, size_t depth) {
  if (out.size() > max_chars) return;
  auto quoted = [&](const std::string& s) {
    // Only the part that can show; dump with replacement so that a cut UTF-8 sequence cannot throw.
    const size_t room = max_chars - std::min(max_chars, out.size()) + 1;
    out += json(s.substr(0, std::min(s.size(), room))).dump(-1, ' ', false, json::error_handler_t::replace);
  };
  switch (v.type()) {
    case json::value_t::object: {
      if (depth >= kMaxJsonDepth) { out += "{...}"; return; }
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end() && out.size() <= max_chars; ++it) {
        if (!first) out += ',';
        first = false;
        quoted(it.key());
        out += ':';
        excerpt_into(it.value(), out, max_chars, depth + 1);
      }
      out += '}';
      return;
    }
    case json::value_t::array: {
      if (depth >= kMaxJsonDepth) { out += "[...]"; return; }
      out += '[';
      bool first = true;
      for (auto it = v.begin(); it != v.end() && out.size() <= max_chars; ++it) {
        if (!first) out += ',';
        first = false;
        excerpt_into(*it, out, max_chars, depth + 1);
      }
      out += ']';
      return;
    }
    case json::value_t::string: quoted(v.get_ref<const std::string&>()); return;
    case json::value_t::binary: out += "(binary)"; return;
    default: out += v.dump(); return;   // a number, a boolean or null: short
  }
}

}  // namespace

json parse_json_document(std::string_view text, const std::string& where, std::string_view what, size_t max_depth) {
  const char* cursor = text.data();
  BoundedHandler handler(text, where, what, max_depth, &cursor);
  run_parser(text, handler, cursor);
  if (handler.duplicate()) {
    const char* locate_cursor = text.data();
    BoundedHandler locator(text, where, what, max_depth, &locate_cursor);
    locator.locate(handler.duplicate_frames(), handler.duplicate_key());
    run_parser(text, locator, locate_cursor);
    throw InputError(where, handler.place(handler.duplicate_path(), handler.duplicate_offset()),
                     "each key once in an object",
                     fmt::format("the key \"{}\" a second time (first at {})", cut_for_message(handler.duplicate_key(), 60),
                                 line_col(text, locator.located_offset())));
  }
  return std::move(handler.root());
}

json read_json_document(const std::string& path, uint64_t max_bytes, std::string_view what, size_t max_depth) {
  return parse_json_document(read_input_file(path, max_bytes, what), path, what, max_depth);
}

std::string json_excerpt(const json& value, size_t max_chars) {
  std::string out;
  excerpt_into(value, out, max_chars, 0);
  if (out.size() <= max_chars) return out;
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;   // not inside a UTF-8 character
  out.resize(cut);
  return out + "...";
}

std::string describe_json_value(const json& v, size_t max_chars) {
  const std::string text = json_excerpt(v, max_chars);
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "the boolean " + text;
    case json::value_t::string: return "the string " + text;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "the integer " + text;
    case json::value_t::number_float: return "the number " + text;
    case json::value_t::object: return "an object " + text;
    case json::value_t::array: return "an array " + text;
    default: return text;
  }
}

}  // namespace tandem::io
