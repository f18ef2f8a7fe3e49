// Reading an input file whole, within a size bound: only regular files (a symlink is followed) are
// read; a directory, FIFO, device or socket, a missing or unreadable file, or one over the bound is
// refused with InputError before any byte is read, so no input can block, or grow memory, without end.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::io {

// The file's bytes. `what` names the expected content in refusals ("a scenario JSON file").
std::string read_input_file(const std::string& path, uint64_t max_bytes, std::string_view what);

// The same checks without reading: the file's size in bytes (for readers that map or stream a file).
uint64_t checked_input_size(const std::string& path, uint64_t max_bytes, std::string_view what);

}  // namespace tandem::io
