// AppendFile: checked appends of whole records, cut back on failure (see append_file.h).
#include "io/append_file.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "io/output_file.h"

namespace tandem::io {

AppendFile::AppendFile(std::string path, bool truncate) : path_(std::move(path)) {
  if (path_.empty()) throw OutputError("cannot write an output file: its path is empty");
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0666);
  if (fd_ < 0) throw OutputError(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw OutputError(fmt::format("cannot write {}: {}", path_, std::strerror(err)));
  }
  if (S_ISDIR(st.st_mode)) {   // open refuses O_WRONLY on a directory; kept for clarity of the message
    ::close(fd_);
    fd_ = -1;
    throw OutputError(fmt::format("cannot write {}: it is a directory", path_));
  }
  regular_ = S_ISREG(st.st_mode);
  size_bytes_ = uint64_t(st.st_size);
}

AppendFile::~AppendFile() {
  if (fd_ >= 0) ::close(fd_);
}

void AppendFile::append(std::string_view record) {
  if (fd_ < 0) throw OutputError(fmt::format("cannot write {}: the file is already closed", path_));
  std::string_view rest = record;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n > 0) {
      rest.remove_prefix(size_t(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int err = n < 0 ? errno : EIO;
    // A part of the record may be in the file: cut it off, so that the file ends with a whole record.
    if (regular_ && ::ftruncate(fd_, off_t(size_bytes_)) != 0)
      throw OutputError(fmt::format("cannot write {}: {} (and a partial record is left at its end)", path_, std::strerror(err)));
    throw OutputError(fmt::format("cannot write {}: {}", path_, std::strerror(err)));
  }
  size_bytes_ += record.size();
}

void AppendFile::cut_back(uint64_t size) {
  if (fd_ < 0) throw OutputError(fmt::format("cannot write {}: the file is already closed", path_));
  if (!regular_ || size >= size_bytes_) return;
  if (::ftruncate(fd_, off_t(size)) != 0) throw OutputError(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
  size_bytes_ = size;
}

void AppendFile::close() {
  if (fd_ < 0) return;
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw OutputError(fmt::format("cannot write {}: closing it ({})", path_, std::strerror(errno)));
}

}  // namespace tandem::io
