// What every fuzz target of tandem checks (docs/robustness.md): a reader given any bytes returns a result
// or throws its documented bad-input exception; any other exception is a finding, printed and aborted so
// that libFuzzer keeps the input. Readers that only take a path read the input from a scratch file.
#pragma once
#include <cxxabi.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>

namespace tandem::fuzz {

inline std::string as_string(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// A little-endian unsigned integer at byte `at` of a binary format's bytes (checkpoint and token-file
// headers), read or overwritten in place; the caller keeps `at + sizeof(T)` within the bytes.
template <typename T>
T load_le(const std::string& b, size_t at) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= T(T(uint8_t(b[at + i])) << (8 * i));
  return v;
}
template <typename T>
void store_le(std::string& b, size_t at, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) b[at + i] = char((v >> (8 * i)) & 0xff);
}

// A finding that is not a crash of its own (an undocumented exception, a broken promise of a parse
// result): one line on stderr, then abort, which libFuzzer reports with the input that caused it.
[[noreturn]] inline void finding(const char* target, const std::string& what) {
  std::fprintf(stderr, "fuzz %s: FINDING: %s\n", target, what.c_str());
  std::abort();
}

inline std::string type_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? name.get() : type.name();
}

// Runs `read`; `Documented...` are the exception types the reader promises on bad input.
template <typename... Documented, typename Read>
void expect_result_or_refusal(const char* target, Read&& read) {
  try {
    read();
  } catch (const std::exception& e) {
    if ((... || (dynamic_cast<const Documented*>(&e) != nullptr))) return;
    finding(target, "undocumented exception " + type_name(typeid(e)) + ": " + std::string(e.what()).substr(0, 400));
  } catch (...) {
    finding(target, "an exception that is not a std::exception");
  }
}

// Writes `bytes` to a scratch file (in $TMPDIR, else /dev/shm, else /tmp), runs `read(path)` and removes
// the file. The name holds the process id, so parallel fuzzing jobs do not share a file.
template <typename Read>
void with_scratch_file(const std::string& bytes, const char* name, Read&& read) {
  static const std::string path = [name] {
    std::string dir = "/tmp";
    if (const char* t = std::getenv("TMPDIR"); t != nullptr && *t != '\0') dir = t;
    else if (std::filesystem::is_directory("/dev/shm")) dir = "/dev/shm";
    return dir + "/tandem-fuzz-" + std::to_string(::getpid()) + "-" + name;
  }();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out.flush()) finding(name, "cannot write the scratch file " + path);
  }
  read(path);
  std::filesystem::remove(path);
}

}  // namespace tandem::fuzz
