// Side panel of ViewerApp: summary (step time, bubble share per stage, exposed communication, SM
// split, phase and op-kind totals), details of the selected op with its flows, the compare table
// and the colour legend.
#include <algorithm>
#include <string>

#include <fmt/core.h>
#include <imgui.h>

#include "viewer/app.h"

namespace tandem::viewer {
namespace {
std::string ms(double ns) { return fmt::format("{:.3f} ms", ns / 1e6); }
std::string pct(double share) { return fmt::format("{:.1f}%", share * 100); }
}  // namespace

void ViewerApp::draw_side_panel(const UiRegions& ui) {
  const float height = ImGui::GetIO().DisplaySize.y;
  ImGui::SetNextWindowPos(ImVec2(ui.side_x0, 0));
  ImGui::SetNextWindowSize(ImVec2(ui.side_w, height));
  ImGui::Begin("##side", nullptr,
               ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize |
                   ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_AlwaysVerticalScrollbar);
  if (selected_.trace >= 0 && ImGui::CollapsingHeader("Selection", ImGuiTreeNodeFlags_DefaultOpen)) draw_selection();
  for (size_t i = 0; i < model_.traces.size(); ++i) {
    const std::string title = model_.traces.size() > 1 ? fmt::format("Summary {}##s{}", i == 0 ? "A" : "B", i)
                                                       : std::string("Summary");
    if (ImGui::CollapsingHeader(title.c_str(), ImGuiTreeNodeFlags_DefaultOpen)) draw_summary(model_.traces[i], int(i));
  }
  if (model_.traces.size() == 2 &&
      ImGui::CollapsingHeader("Compare A (predicted) with B (measured)", ImGuiTreeNodeFlags_DefaultOpen))
    draw_compare();
  if (ImGui::CollapsingHeader("Legend", ImGuiTreeNodeFlags_DefaultOpen)) draw_legend();
  ImGui::TextDisabled("frame layout %.2f ms, %zu rows, %zu ops, %zu merged", build_ms_, geometry_.rows_drawn,
                      geometry_.ops_drawn, geometry_.merged_drawn);
  ImGui::End();
}

void ViewerApp::draw_summary(const LoadedTrace& t, int index) {
  const trace::Summary& s = t.summary;
  ImGui::PushID(index);
  ImGui::TextWrapped("%s", t.path.c_str());
  const auto src = trace::to_string(t.tl.metadata.source);
  if (!t.tl.metadata.scenario.empty() || !src.empty())
    ImGui::Text("%s%s%s", t.tl.metadata.scenario.c_str(), src.empty() ? "" : "  source ", std::string(src).c_str());
  ImGui::Text("step %s   %zu ranks   %zu events", ms(double(s.step_ns)).c_str(), s.ranks, s.events);
  // The measures of docs/timeline.md, means over ranks (the numbers `tandem simulate` reports).
  const trace::MeanMeasures& mean = s.mean;
  ImGui::Text("bubble %s (%s per rank: pipeline %s, issue %s, tail %s)", pct(s.bubble_share).c_str(),
              ms(mean.bubble_ns).c_str(), ms(mean.wait_ns[size_t(trace::GapCause::Pipeline)]).c_str(),
              ms(mean.wait_ns[size_t(trace::GapCause::None)]).c_str(), ms(mean.tail_ns).c_str());
  ImGui::Text("exposed comm %s (%s per rank: all-to-all %s, collectives %s; worst rank %s)",
              pct(s.exposed_comm_share).c_str(), ms(mean.exposed_comm_ns).c_str(),
              ms(mean.wait_ns[size_t(trace::GapCause::AllToAll)]).c_str(),
              ms(mean.wait_ns[size_t(trace::GapCause::Collective)]).c_str(), ms(double(s.exposed_comm_max_ns)).c_str());
  ImGui::Text("communication per rank %s, %s of it under compute", ms(s.comm_mean_ns).c_str(),
              pct(mean.overlap_share()).c_str());
  if (s.sm.present)
    ImGui::Text("SM time: compute %.1f%%, comm %.1f%%, other %.1f%%",
                100 * s.sm.compute_sm_ns / std::max(1.0, s.sm.compute_sm_ns + s.sm.comm_sm_ns + s.sm.other_sm_ns),
                100 * s.sm.comm_share(),
                100 * s.sm.other_sm_ns / std::max(1.0, s.sm.compute_sm_ns + s.sm.comm_sm_ns + s.sm.other_sm_ns));
  else
    ImGui::TextDisabled("SM split: no sms args in this trace");
  if (ImGui::BeginTable("stages", 3, ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY,
                        ImVec2(0, std::min(160.0f, 24.0f + 18.0f * float(s.stages.size()))))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("stage");
    ImGui::TableSetupColumn("ranks");
    ImGui::TableSetupColumn("bubble");
    ImGui::TableHeadersRow();
    for (const auto& st : s.stages) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      if (st.stage >= 0) ImGui::Text("%d", st.stage);
      else ImGui::TextUnformatted("-");
      ImGui::TableNextColumn();
      ImGui::Text("%lld", static_cast<long long>(st.ranks));
      ImGui::TableNextColumn();
      ImGui::Text("%s (%s)", pct(st.bubble_share).c_str(), format_duration(st.bubble_ns).c_str());
    }
    ImGui::EndTable();
  }
  int64_t phase_total = 0;
  for (const auto& ph : s.phases) phase_total += ph.total_ns;
  ImGui::Text("compute by phase:");
  for (const auto& ph : s.phases) {
    ImGui::SameLine();
    ImGui::Text("%c %s", ph.phase ? ph.phase : '-', pct(phase_total ? double(ph.total_ns) / double(phase_total) : 0).c_str());
  }
  if (ImGui::BeginTable("kinds", 3, ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY, ImVec2(0, 150))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("op kind");
    ImGui::TableSetupColumn("count");
    ImGui::TableSetupColumn("time (all ranks)");
    ImGui::TableHeadersRow();
    for (const auto& k : s.kinds) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(k.op.empty() ? "(none)" : k.op.c_str());
      ImGui::TableNextColumn();
      ImGui::Text("%lld", static_cast<long long>(k.count));
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(ms(double(k.total_ns)).c_str());
    }
    ImGui::EndTable();
  }
  ImGui::PopID();
}

void ViewerApp::draw_selection() {
  const LoadedTrace& t = model_.traces[size_t(selected_.trace)];
  const trace::Event& e = t.tl.events[size_t(selected_.event)];
  ImGui::TextWrapped("%s", std::string(t.tl.name_of(e)).c_str());
  ImGui::Text("op %s (%s)", std::string(t.tl.op_of(e)).c_str(), std::string(to_string(t.idx.op_classes[e.op])).c_str());
  ImGui::Text("rank %d, stream %d", e.pid, e.tid);
  ImGui::Text("start %s, duration %s", format_duration(double(e.start_ns - t.origin_ns)).c_str(),
              format_duration(double(e.dur_ns)).c_str());
  if (e.phase) ImGui::Text("phase %c", e.phase);
  ImGui::Text("stage %d  layer %d  micro-batch %d", e.stage, e.layer, e.mb);
  if (e.id >= 0) ImGui::Text("id %lld", static_cast<long long>(e.id));
  if (e.flops > 0) ImGui::Text("FLOPs %.4g (%.1f TFLOP/s)", e.flops, e.dur_ns ? e.flops / double(e.dur_ns) / 1e3 : 0.0);
  if (e.bytes > 0) ImGui::Text("bytes %.4g (%.1f GB/s)", e.bytes, e.dur_ns ? e.bytes / double(e.dur_ns) : 0.0);
  if (e.sms >= 0) ImGui::Text("SMs %d", e.sms);
  for (size_t i = 0; i < selected_flows_.size(); ++i) {
    const FlowLink& f = selected_flows_[i];
    const bool outgoing = f.from_event == uint64_t(selected_.event);
    const uint32_t other = outgoing ? f.to_event : f.from_event;
    const trace::Event& o = t.tl.events[other];
    ImGui::PushID(static_cast<int>(i));
    if (ImGui::SmallButton(outgoing ? "to" : "from")) {
      select({selected_.trace, int64_t(other)});
      ImGui::PopID();
      return;
    }
    ImGui::SameLine();
    ImGui::Text("%s (rank %d)", std::string(t.tl.name_of(o)).c_str(), o.pid);
    ImGui::PopID();
  }
  if (ImGui::SmallButton("Zoom to op")) {
    const double s = double(e.start_ns - t.origin_ns) * t.time_scale, d = std::max(double(e.dur_ns) * t.time_scale, 100.0);
    range_ = {s - d, s + 2 * d};
  }
}

// The comparison of `tandem compare` (docs/compare.md): how ops were lined up, the step and each op
// kind with predicted (A), measured (B) and the signed error (A - B) / B.
void ViewerApp::draw_compare() {
  if (!model_.comparison) {
    ImGui::TextWrapped("cannot compare: %s", model_.comparison_error.c_str());
    return;
  }
  const trace::Comparison& c = *model_.comparison;
  ImGui::TextWrapped("%s matching: %lld ops matched, %lld only in A, %lld only in B",
                     std::string(trace::to_string(c.matching)).c_str(), static_cast<long long>(c.matched),
                     static_cast<long long>(c.only_predicted.count), static_cast<long long>(c.only_measured.count));
  const auto seconds = [](double s) { return format_duration(s * 1e9); };
  const auto row = [&](const std::string& name, const trace::SidePair& p) {
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(name.empty() ? "(none)" : name.c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(seconds(p.predicted_s).c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(seconds(p.measured_s).c_str());
    ImGui::TableNextColumn();
    const auto e = p.error();
    if (!e) {
      ImGui::TextDisabled("n/a");
      return;
    }
    const ImVec4 col = *e > 0 ? ImVec4(1.0f, 0.55f, 0.45f, 1) : ImVec4(0.55f, 0.9f, 0.55f, 1);
    ImGui::TextColored(col, "%+.1f%%", *e * 100);
  };
  if (ImGui::BeginTable("diff", 4, ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY | ImGuiTableFlags_BordersInnerV,
                        ImVec2(0, 240))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("op kind");
    ImGui::TableSetupColumn("A");
    ImGui::TableSetupColumn("B");
    ImGui::TableSetupColumn("error");
    ImGui::TableHeadersRow();
    row("step time", c.step);
    for (const trace::CompareRow& r : c.kinds) row(r.name, r.time);
    ImGui::EndTable();
  }
}

void ViewerApp::draw_legend() {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  auto swatch = [&](Rgba c, const char* text) {
    const ImVec2 p = ImGui::GetCursorScreenPos();
    dl->AddRectFilled(p, ImVec2(p.x + 14, p.y + 12), c.packed());
    ImGui::Dummy(ImVec2(16, 12));
    ImGui::SameLine();
    ImGui::TextUnformatted(text);
  };
  for (int i = 0; i < kColourClasses; ++i) {
    const auto c = static_cast<ColourClass>(i);
    swatch(class_colour(c), std::string(to_string(c)).c_str());
  }
  swatch(palette::kBubble, "bubble (idle compute stream)");
}

}  // namespace tandem::viewer
