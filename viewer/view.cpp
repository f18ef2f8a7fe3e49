// Time-axis navigation and the ruler (see view.h).
#include "viewer/view.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/core.h>

namespace tandem::viewer {

double time_at_px(const ViewRange& r, float x0, float x1, double px) {
  return r.t0_ns + (px - x0) / std::max(1e-9, double(x1 - x0)) * r.span();
}

double px_at_time(const ViewRange& r, float x0, float x1, double t_ns) {
  return x0 + (t_ns - r.t0_ns) / r.span() * double(x1 - x0);
}

ViewRange zoom_at(ViewRange r, double factor, double anchor_ns) {
  if (!(factor > 0)) return r;
  return {anchor_ns - (anchor_ns - r.t0_ns) / factor, anchor_ns + (r.t1_ns - anchor_ns) / factor};
}

ViewRange pan_by_pixels(ViewRange r, double dx_px, double width_px) {
  const double dt = -dx_px / std::max(1.0, width_px) * r.span();
  return {r.t0_ns + dt, r.t1_ns + dt};
}

ViewRange clamp_range(ViewRange r, double lo_ns, double hi_ns, double min_span_ns) {
  const double data = std::max(hi_ns - lo_ns, min_span_ns);
  const double span = std::clamp(r.span(), min_span_ns, data * 1.2);
  const double mid = (r.t0_ns + r.t1_ns) / 2;
  r = {mid - span / 2, mid + span / 2};
  // Keep at least a tenth of the view on the data.
  const double keep = span * 0.1;
  if (r.t0_ns > hi_ns - keep) r = {hi_ns - keep, hi_ns - keep + span};
  if (r.t1_ns < lo_ns + keep) r = {lo_ns + keep - span, lo_ns + keep};
  return r;
}

ViewRange apply_keys(ViewRange r, KeyState k, double dt_s, double anchor_ns) {
  if (k.zoom_in != k.zoom_out) r = zoom_at(r, std::pow(3.0, k.zoom_in ? dt_s : -dt_s), anchor_ns);
  if (k.left != k.right) {
    const double dt = r.span() * 0.5 * dt_s * (k.right ? 1 : -1);
    r = {r.t0_ns + dt, r.t1_ns + dt};
  }
  return r;
}

namespace {
bool parse_time(std::string_view s, double& ns) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  double scale = 1e3;
  auto ends = [&](std::string_view suf) {
    return s.size() > suf.size() && s.substr(s.size() - suf.size()) == suf;
  };
  if (ends("ns")) scale = 1, s.remove_suffix(2);
  else if (ends("us")) scale = 1e3, s.remove_suffix(2);
  else if (ends("µs")) scale = 1e3, s.remove_suffix(std::string_view("µs").size());
  else if (ends("ms")) scale = 1e6, s.remove_suffix(2);
  else if (ends("s")) scale = 1e9, s.remove_suffix(1);
  double v = 0;
  auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (res.ec != std::errc() || res.ptr != s.data() + s.size() || !std::isfinite(v)) return false;
  ns = v * scale;
  return true;
}
}  // namespace

bool parse_range(std::string_view text, ViewRange& out, std::string* error) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    if (error) *error = fmt::format("--range \"{}\": expected t0:t1 (microseconds, or with ns/us/ms/s)", text);
    return false;
  }
  double a = 0, b = 0;
  if (!parse_time(text.substr(0, colon), a) || !parse_time(text.substr(colon + 1), b)) {
    if (error) *error = fmt::format("--range \"{}\": expected two numbers like 0:250 or 1.5ms:3ms", text);
    return false;
  }
  if (!(b > a)) {
    if (error) *error = fmt::format("--range \"{}\": the end must be after the start", text);
    return false;
  }
  out = {a, b};
  return true;
}

std::string format_duration(double ns) {
  const double a = std::fabs(ns);
  const char* unit = "ns";
  double v = ns;
  if (a >= 1e9) v = ns / 1e9, unit = "s";
  else if (a >= 1e6) v = ns / 1e6, unit = "ms";
  else if (a >= 1e3) v = ns / 1e3, unit = "µs";
  const double av = std::fabs(v);
  if (av >= 100 || v == std::floor(v)) return fmt::format("{:.0f} {}", v, unit);
  if (av >= 10) return fmt::format("{:.1f} {}", v, unit);
  return fmt::format("{:.2f} {}", v, unit);
}

double tick_step_ns(double span_ns, double width_px, double min_spacing_px) {
  const double min_step = span_ns * min_spacing_px / std::max(1.0, width_px);
  double step = std::pow(10.0, std::floor(std::log10(std::max(min_step, 1e-3))));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (step * m >= min_step) return std::max(step * m, 1.0);
  return std::max(step * 10, 1.0);
}

std::vector<Tick> ruler_ticks(const ViewRange& r, float x0, float x1, float min_spacing_px) {
  std::vector<Tick> out;
  if (!(r.span() > 0) || x1 <= x0) return out;
  const double step = tick_step_ns(r.span(), x1 - x0, min_spacing_px);
  for (double t = std::ceil(r.t0_ns / step) * step; t <= r.t1_ns; t += step) {
    const double x = px_at_time(r, x0, x1, t);
    out.push_back({x, t, format_duration(std::fabs(t) < step * 1e-6 ? 0.0 : t)});
    if (out.size() > 1000) break;
  }
  return out;
}

}  // namespace tandem::viewer
