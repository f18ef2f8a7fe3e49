// Headless rendering: one frame of the viewer's UI drawn by OpenGL into an offscreen framebuffer
// of an EGL context that needs no display (Mesa's surfaceless platform, else an EGL device), read
// back as an RGBA image. HeadlessError says which EGL step failed when no context can be made.
#pragma once
#include <stdexcept>
#include <string>

#include "viewer/app.h"
#include "viewer/png_io.h"

namespace tandem::viewer {

class HeadlessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Screenshot {
  Image image;
  FrameParams params;                // where the timeline was drawn
  FrameGeometry geometry;            // what was drawn (same coordinates as the image)
  std::string renderer;              // GL_RENDERER, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"
};

// Renders `frames` frames (ImGui settles its layout over the first ones) of `app` at width x height
// and returns the last. Throws HeadlessError when EGL/GL cannot be set up.
Screenshot render_screenshot(ViewerApp& app, int width, int height, int frames = 3);

}  // namespace tandem::viewer
