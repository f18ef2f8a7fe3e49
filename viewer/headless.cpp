// EGL without a display: tries Mesa's surfaceless platform, then the first EGL device, then the
// default display; makes a desktop OpenGL 3.3 core context current without a surface (or with a
// 1x1 pbuffer), renders ImGui frames into a framebuffer object and reads the pixels back.
#include "viewer/headless.h"

#define GL_GLEXT_PROTOTYPES 1
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GL/gl.h>
#include <GL/glext.h>

#include <cstring>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <imgui.h>
#include <backends/imgui_impl_opengl3.h>

namespace tandem::viewer {
namespace {

std::string egl_error_name(EGLint e) {
  switch (e) {
    case EGL_SUCCESS: return "EGL_SUCCESS";
    case EGL_NOT_INITIALIZED: return "EGL_NOT_INITIALIZED";
    case EGL_BAD_ACCESS: return "EGL_BAD_ACCESS";
    case EGL_BAD_ALLOC: return "EGL_BAD_ALLOC";
    case EGL_BAD_ATTRIBUTE: return "EGL_BAD_ATTRIBUTE";
    case EGL_BAD_CONFIG: return "EGL_BAD_CONFIG";
    case EGL_BAD_CONTEXT: return "EGL_BAD_CONTEXT";
    case EGL_BAD_DISPLAY: return "EGL_BAD_DISPLAY";
    case EGL_BAD_MATCH: return "EGL_BAD_MATCH";
    case EGL_BAD_PARAMETER: return "EGL_BAD_PARAMETER";
    case EGL_BAD_SURFACE: return "EGL_BAD_SURFACE";
    default: return fmt::format("0x{:x}", e);
  }
}

bool has_extension(const char* list, const char* name) {
  if (!list) return false;
  const size_t n = std::strlen(name);
  for (const char* p = std::strstr(list, name); p; p = std::strstr(p + 1, name))
    if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return true;
  return false;
}

// An EGL display, context and optional pbuffer, released in reverse order.
struct EglSession {
  EGLDisplay display = EGL_NO_DISPLAY;
  EGLContext context = EGL_NO_CONTEXT;
  EGLSurface surface = EGL_NO_SURFACE;
  std::string log;   // what was tried, for the error message

  ~EglSession() { release(); }
  void release() {
    if (display == EGL_NO_DISPLAY) return;
    eglMakeCurrent(display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
    if (surface != EGL_NO_SURFACE) eglDestroySurface(display, surface);
    if (context != EGL_NO_CONTEXT) eglDestroyContext(display, context);
    eglTerminate(display);
    display = EGL_NO_DISPLAY;
    context = EGL_NO_CONTEXT;
    surface = EGL_NO_SURFACE;
  }

  bool try_display(EGLDisplay d, const char* what) {
    if (d == EGL_NO_DISPLAY) {
      log += fmt::format("{}: no display ({}); ", what, egl_error_name(eglGetError()));
      return false;
    }
    EGLint major = 0, minor = 0;
    if (!eglInitialize(d, &major, &minor)) {
      log += fmt::format("{}: eglInitialize failed ({}); ", what, egl_error_name(eglGetError()));
      return false;
    }
    display = d;
    if (!eglBindAPI(EGL_OPENGL_API)) {
      log += fmt::format("{}: no desktop OpenGL API ({}); ", what, egl_error_name(eglGetError()));
      release();
      return false;
    }
    const EGLint config_attrs[] = {EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT,
                                   EGL_RED_SIZE, 8, EGL_GREEN_SIZE, 8, EGL_BLUE_SIZE, 8, EGL_ALPHA_SIZE, 8, EGL_NONE};
    EGLConfig config = nullptr;
    EGLint count = 0;
    if (!eglChooseConfig(d, config_attrs, &config, 1, &count) || count < 1) {
      log += fmt::format("{}: no RGBA8 OpenGL config; ", what);
      release();
      return false;
    }
    const EGLint ctx_attrs[] = {EGL_CONTEXT_MAJOR_VERSION, 3, EGL_CONTEXT_MINOR_VERSION, 3,
                                EGL_CONTEXT_OPENGL_PROFILE_MASK, EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT, EGL_NONE};
    context = eglCreateContext(d, config, EGL_NO_CONTEXT, ctx_attrs);
    if (context == EGL_NO_CONTEXT) {
      log += fmt::format("{}: no OpenGL 3.3 core context ({}); ", what, egl_error_name(eglGetError()));
      release();
      return false;
    }
    const char* exts = eglQueryString(d, EGL_EXTENSIONS);
    if (!has_extension(exts, "EGL_KHR_surfaceless_context")) {
      const EGLint pb_attrs[] = {EGL_WIDTH, 1, EGL_HEIGHT, 1, EGL_NONE};
      surface = eglCreatePbufferSurface(d, config, pb_attrs);
    }
    if (!eglMakeCurrent(d, surface, surface, context)) {
      log += fmt::format("{}: eglMakeCurrent failed ({}); ", what, egl_error_name(eglGetError()));
      release();
      return false;
    }
    return true;
  }

  void open() {
    const char* client = eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS);
    auto get_platform_display =
        reinterpret_cast<PFNEGLGETPLATFORMDISPLAYEXTPROC>(eglGetProcAddress("eglGetPlatformDisplayEXT"));
    if (get_platform_display && has_extension(client, "EGL_MESA_platform_surfaceless") &&
        try_display(get_platform_display(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, nullptr),
                    "surfaceless platform"))
      return;
    auto query_devices = reinterpret_cast<PFNEGLQUERYDEVICESEXTPROC>(eglGetProcAddress("eglQueryDevicesEXT"));
    if (get_platform_display && query_devices && has_extension(client, "EGL_EXT_platform_device")) {
      EGLDeviceEXT devices[8];
      EGLint n = 0;
      if (query_devices(8, devices, &n))
        for (EGLint i = 0; i < n; ++i)
          if (try_display(get_platform_display(EGL_PLATFORM_DEVICE_EXT, devices[i], nullptr), "EGL device"))
            return;
    }
    if (try_display(eglGetDisplay(EGL_DEFAULT_DISPLAY), "default display")) return;
    throw HeadlessError("headless rendering unavailable: no EGL OpenGL 3.3 context could be made (" + log +
                        "); install Mesa's EGL and DRI drivers (libegl-mesa0, libgl1-mesa-dri)");
  }
};

// A framebuffer object with one RGBA8 colour renderbuffer.
struct Framebuffer {
  GLuint fbo = 0, colour = 0;
  Framebuffer(int w, int h) {
    glGenFramebuffers(1, &fbo);
    glGenRenderbuffers(1, &colour);
    glBindRenderbuffer(GL_RENDERBUFFER, colour);
    glRenderbufferStorage(GL_RENDERBUFFER, GL_RGBA8, w, h);
    glBindFramebuffer(GL_FRAMEBUFFER, fbo);
    glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_RENDERBUFFER, colour);
    const GLenum status = glCheckFramebufferStatus(GL_FRAMEBUFFER);
    if (status != GL_FRAMEBUFFER_COMPLETE)
      throw HeadlessError(fmt::format("headless rendering: framebuffer {}x{} incomplete (0x{:x})", w, h, status));
  }
  ~Framebuffer() {
    glBindFramebuffer(GL_FRAMEBUFFER, 0);
    glDeleteRenderbuffers(1, &colour);
    glDeleteFramebuffers(1, &fbo);
  }
};

// An ImGui context with the OpenGL 3 renderer, destroyed on scope exit.
struct ImGuiSession {
  ImGuiContext* previous = nullptr;
  ImGuiContext* ctx = nullptr;
  bool backend = false;
  ImGuiSession(int w, int h) {
    IMGUI_CHECKVERSION();
    previous = ImGui::GetCurrentContext();
    ctx = ImGui::CreateContext();
    ImGui::SetCurrentContext(ctx);
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;
    io.DisplaySize = ImVec2(static_cast<float>(w), static_cast<float>(h));
    io.DeltaTime = 1.0f / 60.0f;
    ImGui::StyleColorsDark();
    if (!ImGui_ImplOpenGL3_Init("#version 330 core"))
      throw HeadlessError("headless rendering: the ImGui OpenGL 3 renderer could not load OpenGL (libGL.so.1)");
    backend = true;
  }
  ~ImGuiSession() {
    if (backend) ImGui_ImplOpenGL3_Shutdown();
    ImGui::DestroyContext(ctx);
    ImGui::SetCurrentContext(previous);
  }
};

}  // namespace

Screenshot render_screenshot(ViewerApp& app, int width, int height, int frames) {
  if (width < 64 || height < 64 || width > 16384 || height > 16384)
    throw std::invalid_argument(fmt::format("screenshot size {}x{}: each side must be within [64, 16384]", width, height));
  EglSession egl;
  egl.open();
  Screenshot shot;
  if (const auto* r = glGetString(GL_RENDERER)) shot.renderer = reinterpret_cast<const char*>(r);
  Framebuffer fb(width, height);
  {
    ImGuiSession gui(width, height);
    for (int f = 0; f < std::max(1, frames); ++f) {
      ImGui_ImplOpenGL3_NewFrame();
      ImGui::NewFrame();
      app.draw(static_cast<float>(width), static_cast<float>(height));
      ImGui::Render();
      glBindFramebuffer(GL_FRAMEBUFFER, fb.fbo);
      glViewport(0, 0, width, height);
      const Rgba bg = palette::kBackground;
      glClearColor(bg.r / 255.0f, bg.g / 255.0f, bg.b / 255.0f, 1.0f);
      glClear(GL_COLOR_BUFFER_BIT);
      ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    }
    glFinish();
    shot.image.width = width;
    shot.image.height = height;
    shot.image.rgba.resize(size_t(width) * size_t(height) * 4);
    std::vector<uint8_t> raw(shot.image.rgba.size());
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE, raw.data());
    if (const GLenum err = glGetError(); err != GL_NO_ERROR)
      throw HeadlessError(fmt::format("headless rendering: glReadPixels failed (0x{:x})", err));
    // OpenGL's first row is the bottom one.
    const size_t stride = size_t(width) * 4;
    for (int y = 0; y < height; ++y)
      std::memcpy(shot.image.rgba.data() + size_t(y) * stride, raw.data() + size_t(height - 1 - y) * stride, stride);
    shot.params = app.last_params();
    shot.geometry = app.last_geometry();
  }
  return shot;
}

}  // namespace tandem::viewer
