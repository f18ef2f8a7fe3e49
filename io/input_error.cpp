// InputError's one-line message and the cutting of long values quoted in it.
#include "io/input_error.h"

#include <fmt/format.h>

namespace tandem::io {

namespace {
std::string compose(const std::string& where, const std::string& path, const std::string& expected,
                    const std::string& found) {
  const std::string place = path.empty() ? where : fmt::format("{}: at {}", where, path);
  return fmt::format("{}: expected {}, found {}", cut_for_message(place), cut_for_message(expected),
                     cut_for_message(found));
}
}  // namespace

InputError::InputError(std::string where, std::string path, std::string expected, std::string found)
    : std::runtime_error(compose(where, path, expected, found)),
      where_(std::move(where)), path_(std::move(path)), expected_(std::move(expected)), found_(std::move(found)) {}

std::string cut_for_message(std::string_view text, size_t max_chars) {
  std::string out;
  const bool cut = text.size() > max_chars;
  const std::string_view kept = cut ? text.substr(0, max_chars) : text;
  out.reserve(kept.size() + 32);
  for (char ch : kept) {   // one line: control characters are shown, never printed
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out += ch;
  }
  if (cut) out += fmt::format("... ({} bytes)", text.size());
  return out;
}

}  // namespace tandem::io
