// OutputFile: a temporary file beside the target, checked writes, fsync, rename (see output_file.h).
#include "io/output_file.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace tandem::io {

namespace {

std::atomic<uint64_t> temp_counter{0};

bool starts_with(const std::string& s, std::string_view prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

bool written_in_place(const std::string& path) {
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  return (exists && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) || starts_with(path, "/dev/") || starts_with(path, "/proc/");
}

OutputFile::OutputFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw OutputError("cannot write an output file: its path is empty");
  struct stat st {};
  const bool exists = ::stat(path_.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) throw OutputError(fmt::format("cannot write {}: it is a directory", path_));
  in_place_ = written_in_place(path_);
  if (in_place_) {
    // The command's own standard output (/dev/stdout, /proc/self/fd/1, whatever it leads to): written
    // through it, after what was printed so far, so that neither overwrites nor reorders the other.
    struct stat out {};
    if (exists && ::fstat(STDOUT_FILENO, &out) == 0 && out.st_dev == st.st_dev && out.st_ino == st.st_ino) {
      std::fflush(stdout);
      fd_ = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
    } else {
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    }
    if (fd_ < 0) throw OutputError(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
    return;
  }
  for (;;) {
    temp_ = fmt::format("{}.{}-{}.tmp", path_, ::getpid(), temp_counter.fetch_add(1));
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) return;
    if (errno != EEXIST) {
      const int err = errno;
      temp_.clear();
      throw OutputError(fmt::format("cannot write {}: cannot create a file in {} ({})", path_, directory_of(path_),
                                    std::strerror(err)));
    }
  }
}

OutputFile::~OutputFile() { discard(); }

void OutputFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
}

void OutputFile::fail(const std::string& doing, int err) {
  discard();
  throw OutputError(doing.empty() ? fmt::format("cannot write {}: {}", path_, std::strerror(err))
                                  : fmt::format("cannot write {}: {} ({})", path_, doing, std::strerror(err)));
}

void OutputFile::write(std::string_view bytes) {
  if (fd_ < 0) throw OutputError(fmt::format("cannot write {}: the file is already closed", path_));
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("", errno);
    }
    if (n == 0) fail("", EIO);
    bytes.remove_prefix(size_t(n));
  }
}

void OutputFile::commit() {
  if (fd_ < 0) throw OutputError(fmt::format("cannot write {}: the file is already closed", path_));
  // A device or a pipe has nothing to sync (fsync fails with EINVAL there): closing is its end.
  if (!in_place_ && ::fsync(fd_) != 0) fail("flushing it to disk", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("closing it", errno);
  if (in_place_) return;
  if (std::rename(temp_.c_str(), path_.c_str()) != 0) fail(fmt::format("renaming {} into place", temp_), errno);
  temp_.clear();
  // The rename itself is made durable; a directory that cannot be synced (some file systems) is no
  // reason to fail a file that is already complete and in place.
  const int dir = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

size_t remove_abandoned_temp_files(const std::string& dir, const std::function<bool(std::string_view target)>& ours) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  std::vector<std::string> abandoned;
  while (const dirent* e = ::readdir(d)) {
    // TARGET.<pid>-<n>.tmp, as the constructor names it.
    std::string_view name(e->d_name);
    if (name.size() < 4 || name.substr(name.size() - 4) != ".tmp") continue;
    const std::string_view stem = name.substr(0, name.size() - 4);
    const auto dot = stem.find_last_of('.');
    if (dot == std::string_view::npos || dot == 0) continue;
    const std::string_view id = stem.substr(dot + 1);
    const auto dash = id.find('-');
    auto digits = [](std::string_view v) {
      return !v.empty() && v.size() <= 18 && v.find_first_not_of("0123456789") == std::string_view::npos;
    };
    if (dash == std::string_view::npos || !digits(id.substr(0, dash)) || !digits(id.substr(dash + 1))) continue;
    const long long pid = std::stoll(std::string(id.substr(0, dash)));
    if (pid <= 0 || pid > std::numeric_limits<pid_t>::max() || !ours(stem.substr(0, dot))) continue;
    // ESRCH: no such process. EPERM (another user's) and success both mean it runs.
    if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;
    abandoned.emplace_back(name);
  }
  ::closedir(d);
  size_t removed = 0;
  for (const auto& name : abandoned) removed += ::unlink((dir + "/" + name).c_str()) == 0;
  return removed;
}

void write_output_file(const std::string& path, std::string_view bytes) {
  OutputFile out(path);
  out.write(bytes);
  out.commit();
}

}  // namespace tandem::io
