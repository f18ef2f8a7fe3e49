// PNG reading and writing through libpng's png_image interface (no setjmp error handling needed);
// files are written complete or not at all.
#include "viewer/png_io.h"

#include <png.h>

#include <cstring>
#include <stdexcept>

#include <fmt/core.h>

#include "io/output_file.h"

namespace tandem::viewer {

Rgba Image::at(int x, int y) const {
  if (x < 0 || y < 0 || x >= width || y >= height)
    throw std::out_of_range(fmt::format("pixel ({}, {}) outside a {}x{} image", x, y, width, height));
  const size_t i = (static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)) * 4;
  return {rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3]};
}

void write_png(const std::string& path, const Image& img) {
  if (img.width <= 0 || img.height <= 0 || img.rgba.size() != size_t(img.width) * size_t(img.height) * 4)
    throw std::runtime_error(fmt::format("cannot write {}: image of {}x{} with {} bytes", path, img.width,
                                         img.height, img.rgba.size()));
  png_image pi;
  std::memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  pi.width = static_cast<png_uint_32>(img.width);
  pi.height = static_cast<png_uint_32>(img.height);
  pi.format = PNG_FORMAT_RGBA;
  // Encoded in memory, then written complete or not at all (io::OutputFile): libpng writing to the
  // file itself would leave half a PNG behind on a full disk.
  png_alloc_size_t size = 0;
  if (!png_image_write_get_memory_size(pi, size, 0, img.rgba.data(), 0, nullptr))
    throw std::runtime_error(fmt::format("cannot write {}: {}", path, pi.message));
  std::string bytes(size, '\0');
  if (!png_image_write_to_memory(&pi, bytes.data(), &size, 0, img.rgba.data(), 0, nullptr))
    throw std::runtime_error(fmt::format("cannot write {}: {}", path, pi.message));
  bytes.resize(size);
  io::write_output_file(path, bytes);
}

Image read_png(const std::string& path) {
  png_image pi;
  std::memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&pi, path.c_str()))
    throw std::runtime_error(fmt::format("cannot read {}: {}", path, pi.message));
  pi.format = PNG_FORMAT_RGBA;
  Image img;
  img.width = static_cast<int>(pi.width);
  img.height = static_cast<int>(pi.height);
  img.rgba.resize(PNG_IMAGE_SIZE(pi));
  if (!png_image_finish_read(&pi, nullptr, img.rgba.data(), 0, nullptr)) {
    png_image_free(&pi);
    throw std::runtime_error(fmt::format("cannot read {}: {}", path, pi.message));
  }
  return img;
}

}  // namespace tandem::viewer
