// The visible time range and how input moves it: zoom at the cursor, drag pan, W/S/A/D as in
// Perfetto, a clamp to the trace, the time ruler's ticks and the --range parser. Pure functions.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace tandem::viewer {

// Visible times in nanoseconds relative to the trace origin (the step's start).
struct ViewRange {
  double t0_ns = 0.0;
  double t1_ns = 1.0;
  double span() const { return t1_ns - t0_ns; }
};

// Pixel <-> time on an axis spanning [x0, x1].
double time_at_px(const ViewRange& r, float x0, float x1, double px);
double px_at_time(const ViewRange& r, float x0, float x1, double t_ns);

// Zooms by `factor` (> 1 in, < 1 out) keeping `anchor_ns` at the same pixel.
ViewRange zoom_at(ViewRange r, double factor, double anchor_ns);
// Drags the content by `dx_px` pixels (positive: content moves right, earlier times come in).
ViewRange pan_by_pixels(ViewRange r, double dx_px, double width_px);
// Keeps the span within [min_span_ns, (hi - lo) * 1.2] and the range overlapping [lo, hi].
ViewRange clamp_range(ViewRange r, double lo_ns, double hi_ns, double min_span_ns = 10.0);

struct KeyState {
  bool zoom_in = false;    // W
  bool zoom_out = false;   // S
  bool left = false;       // A
  bool right = false;      // D
};
// Held keys over `dt_s` seconds: zoom 3x per second of W/S (at `anchor_ns`), pan half the span
// per second of A/D.
ViewRange apply_keys(ViewRange r, KeyState k, double dt_s, double anchor_ns);

// "t0:t1" with optional units ns, us, ms, s on each number (microseconds when none), relative to
// the trace origin. False with `error` set on bad text.
bool parse_range(std::string_view text, ViewRange& out, std::string* error);

// "12.5 ms", "340 µs", "20 ns": a duration with three significant digits.
std::string format_duration(double ns);

struct Tick {
  double x = 0.0;
  double t_ns = 0.0;
  std::string label;
};
// Ticks at 1, 2 or 5 times a power of ten nanoseconds, at least `min_spacing_px` apart.
std::vector<Tick> ruler_ticks(const ViewRange& r, float x0, float x1, float min_spacing_px = 90.0f);
double tick_step_ns(double span_ns, double width_px, double min_spacing_px);

}  // namespace tandem::viewer
