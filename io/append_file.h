// AppendFile: a file that grows by whole records while a command runs (the lines of a training log).
// Every append is checked; one that fails is cut back so that the file holds whole records only, and
// the failure is thrown (OutputError) so that the command stops instead of losing records silently.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::io {

class AppendFile {
 public:
  // `truncate`: start empty (a new run) or keep what is there (a resumed run appends to its log).
  // Throws OutputError.
  AppendFile(std::string path, bool truncate);
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  // Writes the whole record or, on failure, none of it (regular files are cut back to their size
  // before it) and throws OutputError naming the file.
  void append(std::string_view record);
  // Keeps only the first `size` bytes of a regular file (a resumed run drops the records of the steps it
  // runs again); nothing when the file is shorter or not a regular file. Throws OutputError.
  void cut_back(uint64_t size);
  // Closes the file, checking the close (some file systems report a failed write only then).
  void close();

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool regular_ = false;
  uint64_t size_bytes_ = 0;   // regular files: the size after the last whole record
};

}  // namespace tandem::io
