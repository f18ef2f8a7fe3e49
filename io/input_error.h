// InputError: bad input handed to tandem (a file, a JSON path, an option), the one error every reader
// throws and every command turns into exit code 2 with one line: where, what was expected, what was found.
// Long found values are cut so that a message stays one readable line.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tandem::io {

class InputError : public std::runtime_error {
 public:
  // `where` is the file, option or other source; `path` the JSON path or "(file)" ("" when none).
  InputError(std::string where, std::string path, std::string expected, std::string found);
  const std::string& where() const { return where_; }
  const std::string& path() const { return path_; }
  const std::string& expected() const { return expected_; }
  const std::string& found() const { return found_; }

 private:
  std::string where_, path_, expected_, found_;
};

// The most characters of one quoted value in a message; longer values are cut with "... (N bytes)".
inline constexpr size_t kMaxQuotedChars = 160;
std::string cut_for_message(std::string_view text, size_t max_chars = kMaxQuotedChars);

}  // namespace tandem::io
