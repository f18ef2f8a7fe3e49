// RGBA images and PNG files (libpng's simplified API), for screenshots and the tests that check them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "viewer/colours.h"

namespace tandem::viewer {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgba;         // [height, width, 4], top row first
  Rgba at(int x, int y) const;       // (0, 0) is the top-left pixel
};

// Throws std::runtime_error naming the file on failure (io::OutputError when the file cannot be
// written: nothing is left then).
void write_png(const std::string& path, const Image& img);
Image read_png(const std::string& path);

}  // namespace tandem::viewer
