// OutputFile: a file tandem hands back to the user (a trace, a report, a checkpoint, a PNG, a token
// file), written complete or not at all: bytes go to a temporary file beside it, every write and the
// flush, fsync and close are checked, and only commit() renames it into place.
#pragma once
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tandem::io {

// An output that could not be written (a full disk, a file size limit, a directory that vanished):
// a failure of the environment, not of the input, so commands end with exit code 1. The message
// names the file the user asked for and the system's reason.
class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class OutputFile {
 public:
  // Opens a temporary file "PATH.<pid>-<n>.tmp" beside `path`, or `path` itself when it is written
  // in place (written_in_place; a FIFO waits for its reader, as any writer of a FIFO does).
  // Throws OutputError when the file cannot be opened, or when `path` is empty or a directory.
  explicit OutputFile(std::string path);
  // Without commit(), the temporary file is removed: a failed or abandoned write leaves nothing.
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Writes all of `bytes` (unbuffered: callers hand over large pieces). Throws OutputError.
  void write(std::string_view bytes);
  // fsync and close, rename over `path`, fsync the directory. Throws OutputError (and removes the
  // temporary file) when any of them fails; `path` then still holds what it held before.
  void commit();

  const std::string& path() const { return path_; }
  bool in_place() const { return in_place_; }

 private:
  [[noreturn]] void fail(const std::string& doing, int err);
  void discard() noexcept;

  std::string path_;
  std::string temp_;   // empty when written in place
  int fd_ = -1;
  bool in_place_ = false;
};

// A path that exists and is not a regular file (/dev/null, a FIFO), or that names one through /dev or
// /proc (/dev/stdout, which may lead to a regular file), is written in place: renaming a temporary
// file over it would replace the device, or the link, by a file. When it is the command's standard
// output, it is written through that, after what was printed before (stdout is flushed first).
bool written_in_place(const std::string& path);

// Removes what OutputFiles of processes that no longer run left in `dir` (a write killed before its
// commit: SIGKILL, a crash, the machine's end): files "TARGET.<pid>-<n>.tmp" whose process <pid> is gone
// and whose TARGET name `ours` accepts. Returns how many were removed. A live process's file (another
// run writing there now) is kept; so is one whose process id has been taken since (until a later call).
// Process ids are this machine's: a directory written from several machines at once is not cleaned.
size_t remove_abandoned_temp_files(const std::string& dir, const std::function<bool(std::string_view target)>& ours);

// `bytes` written to `path` through an OutputFile and committed.
void write_output_file(const std::string& path, std::string_view bytes);

}  // namespace tandem::io
