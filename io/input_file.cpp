// read_input_file: stat first (type and size), then read with the bound re-checked, so a file that
// grows while it is read is refused too.
#include "io/input_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "io/input_error.h"

namespace tandem::io {

namespace {

std::string file_type(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

uint64_t check_stat(const std::string& path, const struct stat& st, uint64_t max_bytes, std::string_view what) {
  if (!S_ISREG(st.st_mode)) throw InputError(path, "(file)", std::string(what), file_type(st.st_mode));
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    throw InputError(path, "(file)", fmt::format("{} of at most {} bytes", what, max_bytes), fmt::format("{} bytes", size));
  return size;
}

}  // namespace

uint64_t checked_input_size(const std::string& path, uint64_t max_bytes, std::string_view what) {
  if (path.empty()) throw InputError("(empty path)", "", fmt::format("the path of {}", what), "an empty path");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    throw InputError(path, "(file)", std::string(what), err == ENOENT ? "no such file" : std::strerror(err));
  }
  return check_stat(path, st, max_bytes, what);
}

std::string read_input_file(const std::string& path, uint64_t max_bytes, std::string_view what) {
  checked_input_size(path, max_bytes, what);
  // O_NONBLOCK: should the path be swapped for a FIFO between the stat and the open, open does not wait.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw InputError(path, "(file)", std::string(what), std::strerror(errno));
  std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* f) { ::close(*f); delete f; });
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw InputError(path, "(file)", std::string(what), std::strerror(errno));
  const uint64_t size = check_stat(path, st, max_bytes, what);
  std::string bytes(size, '\0');
  size_t got = 0;
  while (true) {
    if (got == bytes.size()) {   // the file may have grown since fstat: read on, within the bound
      if (bytes.size() > max_bytes) break;
      bytes.resize(std::min<uint64_t>(max_bytes + 1, bytes.size() + 65536));
    }
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(path, "(file)", std::string(what), fmt::format("a read error ({})", std::strerror(errno)));
    }
    if (n == 0) break;
    got += size_t(n);
  }
  if (got > max_bytes)
    throw InputError(path, "(file)", fmt::format("{} of at most {} bytes", what, max_bytes), "a file that grew past that while read");
  bytes.resize(got);
  return bytes;
}

}  // namespace tandem::io
