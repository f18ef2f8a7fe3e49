// ViewerApp: window layout, toolbar and search, the timeline canvas (drawing the FrameGeometry),
// mouse/keyboard navigation, tooltips and selection. Side panels are in panels.cpp.
#include "viewer/app.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/core.h>
#include <imgui.h>

#include "io/rank_list.h"

namespace tandem::viewer {

UiRegions ui_regions(float width, float height) {
  UiRegions u;
  u.side_w = width >= 900 ? std::min(400.0f, width * 0.3f) : 0.0f;
  u.side_x0 = width - u.side_w;
  FrameParams& f = u.frame;
  const float timeline_w = width - u.side_w - 8;
  f.label_x0 = 4;
  f.canvas_x0 = f.label_x0 + std::clamp(timeline_w * 0.2f, 120.0f, 230.0f);
  f.canvas_x1 = f.label_x0 + timeline_w - 12;   // room for the vertical scrollbar
  f.ruler_y0 = u.toolbar_h + 4;
  f.canvas_y0 = f.ruler_y0 + 22;
  f.canvas_y1 = height - 4;
  return u;
}

ViewerApp::ViewerApp(ViewModel model) : model_(std::move(model)) {
  rebuild_layout();
  const double end = std::max(1.0, model_.end_ns());
  range_ = {-end * 0.01, end * 1.01};
  search_.name_match.resize(model_.traces.size());
}

void ViewerApp::rebuild_layout() { layout_ = build_layout(model_, layout_opt_); }

void ViewerApp::set_range(ViewRange r) { range_ = r; }

void ViewerApp::set_shown(std::set<int32_t> ranks, std::set<int32_t> stages) {
  layout_opt_.ranks = std::move(ranks);
  layout_opt_.stages = std::move(stages);
  rebuild_layout();
  scroll_y_ = 0;
}

void ViewerApp::apply_shown_text() {
  // The toolbar's fields take what --ranks and --stages take: "all", or lists like 0,4-7 (io/rank_list.h).
  auto parse = [](const char* text, const char* what) {
    std::set<int32_t> out;
    const std::string s(text);
    if (s.empty() || s == "all") return out;
    for (int64_t v : io::parse_rank_list(s, 0, what)) out.insert(static_cast<int32_t>(v));
    return out;
  };
  try {
    set_shown(parse(ranks_buf_, "ranks"), parse(stages_buf_, "stages"));
    shown_error_.clear();
  } catch (const std::invalid_argument& e) {
    shown_error_ = e.what();
  }
}

bool ViewerApp::own_time_axes() const {
  return std::any_of(model_.traces.begin(), model_.traces.end(), [](const LoadedTrace& t) { return t.time_scale != 1.0; });
}

void ViewerApp::set_own_time_axes(bool own) {
  viewer::set_own_time_axes(model_, own);
  const double end = std::max(1.0, model_.end_ns());
  range_ = {-end * 0.01, end * 1.01};
}

void ViewerApp::clamp_view() {
  range_ = clamp_range(range_, 0.0, std::max(1.0, model_.end_ns()));
  const float view_h = params_.canvas_y1 - params_.canvas_y0;
  scroll_y_ = std::clamp(scroll_y_, 0.0f, std::max(0.0f, layout_.total_h - view_h));
}

void ViewerApp::select(Selection s) {
  selected_ = s;
  selected_flows_.clear();
  if (s.trace < 0 || s.event < 0) return;
  const auto& tl = model_.traces[size_t(s.trace)].tl;
  for (const auto& f : tl.flows)
    if (f.from_event == uint64_t(s.event) || f.to_event == uint64_t(s.event))
      selected_flows_.push_back({s.trace, f.from_event, f.to_event});
}

void ViewerApp::set_search(const std::string& text) {
  search_text_ = text;
  search_.active = !text.empty();
  search_hits_ = 0;
  std::string needle = text;
  for (auto& ch : needle) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (size_t ti = 0; ti < model_.traces.size(); ++ti) {
    const auto& tl = model_.traces[ti].tl;
    auto& match = search_.name_match[ti];
    match.assign(tl.string_count(), 0);
    if (!search_.active) continue;
    for (uint32_t id = 0; id < tl.string_count(); ++id) {
      std::string s(tl.str(id));
      for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      match[id] = s.find(needle) != std::string::npos;
    }
    for (const auto& e : tl.events) search_hits_ += match[e.name];
  }
}

void ViewerApp::find_next_match() {
  if (!search_.active) return;
  const double centre = (range_.t0_ns + range_.t1_ns) / 2;
  Selection best;
  double best_t = std::numeric_limits<double>::infinity();
  double first_t = std::numeric_limits<double>::infinity();
  Selection first;
  for (size_t ti = 0; ti < model_.traces.size(); ++ti) {
    const auto& t = model_.traces[ti];
    for (size_t i = 0; i < t.tl.events.size(); ++i) {
      const auto& e = t.tl.events[i];
      if (!search_.name_match[ti][e.name]) continue;
      const double rel = double(e.start_ns - t.origin_ns) * t.time_scale;
      if (rel > centre + 1 && rel < best_t) best_t = rel, best = {int(ti), int64_t(i)};
      if (rel < first_t) first_t = rel, first = {int(ti), int64_t(i)};
    }
  }
  if (best.trace < 0) best = first, best_t = first_t;   // wrap around
  if (best.trace < 0) return;
  const auto& t = model_.traces[size_t(best.trace)];
  const auto& e = t.tl.events[size_t(best.event)];
  const double span = std::max(range_.span(), double(e.dur_ns) * t.time_scale * 4);
  const double mid = best_t + double(e.dur_ns) * t.time_scale / 2;
  range_ = {mid - span / 2, mid + span / 2};
  select(best);
  // Scroll its row into view.
  const int64_t k = t.idx.find(e.pid, e.tid);
  if (k >= 0) {
    const int64_t row = layout_.row_of_track[size_t(best.trace)][size_t(k)];
    if (row >= 0) scroll_y_ = std::max(0.0f, layout_.rows[size_t(row)].y - 40.0f);
  }
}

void ViewerApp::draw(float width, float height) {
  const UiRegions ui = ui_regions(width, height);
  ImGui::SetNextWindowPos(ImVec2(0, 0));
  ImGui::SetNextWindowSize(ImVec2(width, height));
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(4, 4));
  ImGui::Begin("tandem-view", nullptr,
               ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize |
                   ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBringToFrontOnFocus |
                   ImGuiWindowFlags_NoScrollWithMouse);
  ImGui::PopStyleVar();
  draw_toolbar(width - ui.side_w);
  draw_canvas(ui);
  ImGui::End();
  if (ui.side_w > 0) draw_side_panel(ui);
}

void ViewerApp::draw_toolbar(float width) {
  ImGui::SetCursorPos(ImVec2(4, 4));
  ImGui::SetNextItemWidth(std::min(260.0f, width * 0.3f));
  if (ImGui::InputTextWithHint("##search", "search op names", search_buf_, sizeof(search_buf_)))
    set_search(search_buf_);
  // Enter leaves the text field; that frame it counts as "Next".
  const bool enter = ImGui::IsItemDeactivated() && (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Enter)) ||
                                                    ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_KeyPadEnter)));
  ImGui::SameLine();
  if (ImGui::Button("Next") || enter) find_next_match();
  ImGui::SameLine();
  if (search_.active) ImGui::Text("%zu hits", search_hits_);
  else ImGui::TextDisabled("wheel: zoom  drag: pan  W/S/A/D  shift+wheel: scroll");
  ImGui::SameLine();
  if (ImGui::Button("Reset")) {
    const double end = std::max(1.0, model_.end_ns());
    range_ = {-end * 0.01, end * 1.01};
  }
  // Ranks and stages shown, applied when a field is left (Enter, Tab or a click elsewhere).
  ImGui::SameLine();
  ImGui::SetNextItemWidth(90);
  ImGui::InputTextWithHint("##ranks", "ranks: all", ranks_buf_, sizeof(ranks_buf_));
  if (ImGui::IsItemDeactivatedAfterEdit()) apply_shown_text();
  ImGui::SameLine();
  ImGui::SetNextItemWidth(90);
  ImGui::InputTextWithHint("##stages", "stages: all", stages_buf_, sizeof(stages_buf_));
  if (ImGui::IsItemDeactivatedAfterEdit()) apply_shown_text();
  if (!shown_error_.empty()) {
    ImGui::SameLine();
    ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.4f, 1.0f), "%s", shown_error_.c_str());
  }
  if (model_.traces.size() == 2) {
    ImGui::SameLine();
    bool own = own_time_axes();
    if (ImGui::Checkbox("own time axes", &own)) set_own_time_axes(own);
  }
  ImGui::SameLine();
  ImGui::TextDisabled("%s .. %s  (%s)", format_duration(range_.t0_ns).c_str(), format_duration(range_.t1_ns).c_str(),
                      format_duration(range_.span()).c_str());
}

void ViewerApp::draw_canvas(const UiRegions& ui) {
  params_ = ui.frame;
  params_.range = range_;
  params_.scroll_y = scroll_y_;
  params_.search = &search_;
  params_.selected = selected_;
  params_.flows = selected_flows_;
  const FrameParams& p = params_;
  ImGui::SetCursorScreenPos(ImVec2(p.label_x0, p.ruler_y0));
  const ImVec2 size(std::max(1.0f, p.canvas_x1 + 12 - p.label_x0), std::max(1.0f, p.canvas_y1 - p.ruler_y0));
  ImGui::InvisibleButton("##timeline", size, ImGuiButtonFlags_MouseButtonLeft);
  const bool hovered = ImGui::IsItemHovered();
  const bool active = ImGui::IsItemActive();
  handle_input(hovered, active);
  params_.range = range_;
  params_.scroll_y = scroll_y_;
  params_.selected = selected_;
  params_.flows = selected_flows_;

  const auto t0 = std::chrono::steady_clock::now();
  geometry_ = build_frame(model_, layout_, params_);
  build_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->PushClipRect(ImVec2(p.label_x0, p.ruler_y0), ImVec2(p.canvas_x1 + 12, p.canvas_y1), true);
  dl->AddRectFilled(ImVec2(p.label_x0, p.canvas_y0), ImVec2(p.canvas_x1, p.canvas_y1), palette::kBackground.packed());
  for (const DrawRect& r : geometry_.rects) dl->AddRectFilled(ImVec2(r.x0, r.y0), ImVec2(r.x1, r.y1), r.rgba);
  for (const DrawLine& l : geometry_.lines) {
    dl->AddLine(ImVec2(l.x0, l.y0), ImVec2(l.x1, l.y1), l.rgba, 1.5f);
    dl->AddCircleFilled(ImVec2(l.x1, l.y1), 3.0f, l.rgba);
  }
  ImFont* font = ImGui::GetFont();
  for (const DrawText& t : geometry_.texts) {
    const ImVec4 clip(t.clip_x0, std::max(t.y, p.ruler_y0), t.clip_x1, std::min(t.y + p.font_px + 2, p.canvas_y1));
    dl->AddText(font, p.font_px, ImVec2(t.x, t.y), t.rgba, t.text.data(), t.text.data() + t.text.size(), 0.0f, &clip);
  }
  // Vertical scrollbar.
  const float view_h = p.canvas_y1 - p.canvas_y0;
  if (layout_.total_h > view_h) {
    const float frac = view_h / layout_.total_h;
    const float thumb_h = std::max(20.0f, view_h * frac);
    const float y = p.canvas_y0 + (view_h - thumb_h) * (scroll_y_ / std::max(1.0f, layout_.total_h - view_h));
    dl->AddRectFilled(ImVec2(p.canvas_x1 + 3, p.canvas_y0), ImVec2(p.canvas_x1 + 11, p.canvas_y1),
                      palette::kRuler.packed());
    dl->AddRectFilled(ImVec2(p.canvas_x1 + 3, y), ImVec2(p.canvas_x1 + 11, y + thumb_h), palette::kTick.packed(), 3.0f);
  }
  dl->PopClipRect();
  if (hovered && !dragging_) draw_tooltip(hit_test(model_, layout_, params_, ImGui::GetIO().MousePos.x,
                                                   ImGui::GetIO().MousePos.y));
}

void ViewerApp::handle_input(bool hovered, bool active) {
  ImGuiIO& io = ImGui::GetIO();
  const FrameParams& p = params_;
  const float width = p.canvas_x1 - p.canvas_x0;
  const ImVec2 mouse = io.MousePos;
  const bool over_canvas = hovered && mouse.x >= p.canvas_x0 && mouse.x < p.canvas_x1;
  const double anchor = over_canvas ? time_at_px(range_, p.canvas_x0, p.canvas_x1, mouse.x)
                                    : (range_.t0_ns + range_.t1_ns) / 2;
  if (hovered && io.MouseWheel != 0) {
    if (io.KeyShift) scroll_y_ -= io.MouseWheel * 60.0f;
    else range_ = zoom_at(range_, std::pow(1.25, io.MouseWheel), anchor);
  }
  if (hovered && io.MouseWheelH != 0) range_ = pan_by_pixels(range_, io.MouseWheelH * 40.0, width);
  if (!io.WantTextInput) {
    KeyState k{ImGui::IsKeyDown('W'), ImGui::IsKeyDown('S'), ImGui::IsKeyDown('A'), ImGui::IsKeyDown('D')};
    range_ = apply_keys(range_, k, io.DeltaTime, anchor);
    const float view_h = p.canvas_y1 - p.canvas_y0;
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_PageDown))) scroll_y_ += view_h * 0.9f;
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_PageUp))) scroll_y_ -= view_h * 0.9f;
    if (ImGui::IsKeyDown(ImGui::GetKeyIndex(ImGuiKey_DownArrow))) scroll_y_ += 600 * io.DeltaTime;
    if (ImGui::IsKeyDown(ImGui::GetKeyIndex(ImGuiKey_UpArrow))) scroll_y_ -= 600 * io.DeltaTime;
  }
  if (ImGui::IsItemActivated()) {
    dragging_ = false;
    drag_dist_ = 0;
    dragging_scrollbar_ = mouse.x >= p.canvas_x1 + 2;
  }
  if (active) {
    const ImVec2 d = io.MouseDelta;
    drag_dist_ += std::fabs(d.x) + std::fabs(d.y);
    if (dragging_scrollbar_) {
      const float view_h = p.canvas_y1 - p.canvas_y0;
      scroll_y_ += d.y * layout_.total_h / std::max(1.0f, view_h);
    } else if (drag_dist_ > 3) {
      dragging_ = true;
      range_ = pan_by_pixels(range_, d.x, width);
      scroll_y_ -= d.y;
    }
  }
  if (ImGui::IsItemDeactivated()) {
    if (!dragging_ && !dragging_scrollbar_) {
      const Hit h = hit_test(model_, layout_, params_, mouse.x, mouse.y);
      if (h.kind == Hit::Kind::Op) select({h.trace, h.event});
      else if (h.kind == Hit::Kind::StageHeader) {
        const auto key = std::make_pair(h.trace, h.stage);
        if (!layout_opt_.collapsed.erase(key)) layout_opt_.collapsed.insert(key);
        rebuild_layout();
      } else select({});
    }
    dragging_ = dragging_scrollbar_ = false;
  }
  if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape))) select({});
  clamp_view();
}

void ViewerApp::draw_tooltip(const Hit& h) {
  if (h.kind == Hit::Kind::Op) {
    const LoadedTrace& t = model_.traces[size_t(h.trace)];
    const trace::Event& e = t.tl.events[size_t(h.event)];
    ImGui::BeginTooltip();
    ImGui::TextUnformatted(std::string(t.tl.name_of(e)).c_str());
    ImGui::Separator();
    ImGui::Text("op %s  ·  %s", std::string(t.tl.op_of(e)).c_str(), std::string(to_string(t.idx.op_classes[e.op])).c_str());
    ImGui::Text("start %s  dur %s", format_duration(double(e.start_ns - t.origin_ns)).c_str(),
                format_duration(double(e.dur_ns)).c_str());
    ImGui::Text("rank %d  stream %d", e.pid, e.tid);
    if (e.phase) ImGui::Text("phase %c", e.phase);
    if (e.stage >= 0 || e.layer >= 0 || e.mb >= 0) ImGui::Text("stage %d  layer %d  mb %d", e.stage, e.layer, e.mb);
    if (e.id >= 0) ImGui::Text("id %lld", static_cast<long long>(e.id));
    if (e.flops > 0)
      ImGui::Text("%.4g FLOP  (%.1f TFLOP/s)", e.flops, e.dur_ns > 0 ? e.flops / double(e.dur_ns) / 1e3 : 0.0);
    if (e.bytes > 0) ImGui::Text("%.4g bytes  (%.1f GB/s)", e.bytes, e.dur_ns > 0 ? e.bytes / double(e.dur_ns) : 0.0);
    if (e.sms >= 0) ImGui::Text("SMs %d", e.sms);
    if (h.ops_in_pixel > 1) ImGui::TextDisabled("%u ops in this pixel: zoom in (W or wheel)", h.ops_in_pixel);
    ImGui::EndTooltip();
  } else if (h.kind == Hit::Kind::Bubble) {
    const LoadedTrace& t = model_.traces[size_t(h.trace)];
    ImGui::BeginTooltip();
    ImGui::Text("bubble: idle %s", format_duration(double(h.gap.length())).c_str());
    ImGui::Text("from %s to %s", format_duration(double(h.gap.start_ns - t.origin_ns)).c_str(),
                format_duration(double(h.gap.end_ns - t.origin_ns)).c_str());
    ImGui::EndTooltip();
  } else if (h.kind == Hit::Kind::StageHeader) {
    ImGui::SetTooltip("click to fold or unfold this stage");
  }
}

}  // namespace tandem::viewer
