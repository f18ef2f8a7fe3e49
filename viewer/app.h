// ViewerApp: the ImGui user interface of tandem-view (toolbar with search, the timeline canvas with
// mouse and keyboard navigation, tooltips, selection details, summary and compare panels). It only
// issues ImGui calls; the GLFW window and the headless EGL renderer both drive it frame by frame.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "viewer/frame.h"
#include "viewer/layout.h"
#include "viewer/model.h"
#include "viewer/view.h"

namespace tandem::viewer {

// Screen regions of the UI for a window of a given size (pure: tests and the screenshot use it).
struct UiRegions {
  float toolbar_h = 30;
  float side_x0 = 0, side_w = 0;     // right panel (0 wide when the window is narrow)
  FrameParams frame;                 // label column, ruler and canvas placement
};
UiRegions ui_regions(float width, float height);

class ViewerApp {
 public:
  explicit ViewerApp(ViewModel model);

  // Sets the view to [t0, t1] (ns relative to the step start) and keeps it.
  void set_range(ViewRange r);
  ViewRange range() const { return range_; }
  // Compare mode: each trace on its own time axis (stretched to the first trace's step) or one axis
  // for both; the view resets to the whole step.
  void set_own_time_axes(bool own);
  bool own_time_axes() const;
  // Shows only these ranks (process ids) and pipeline stages; an empty set shows all of them. The rows
  // are laid out again and scrolled to the top.
  void set_shown(std::set<int32_t> ranks, std::set<int32_t> stages);
  const LayoutOptions& layout_options() const { return layout_opt_; }
  // Builds one frame of the whole UI; call between ImGui::NewFrame() and ImGui::Render().
  void draw(float width, float height);

  const ViewModel& model() const { return model_; }
  const Layout& layout() const { return layout_; }
  const FrameParams& last_params() const { return params_; }
  const FrameGeometry& last_geometry() const { return geometry_; }
  double last_build_ms() const { return build_ms_; }

  void select(Selection s);
  Selection selection() const { return selected_; }
  void set_search(const std::string& text);
  size_t search_hits() const { return search_hits_; }
  // Moves the view to the next op (after the view's centre, wrapping) whose name matches the search.
  void find_next_match();

 private:
  void draw_toolbar(float width);
  void apply_shown_text();
  void draw_canvas(const UiRegions& ui);
  void handle_input(bool hovered, bool active);
  void draw_tooltip(const Hit& h);
  void draw_side_panel(const UiRegions& ui);
  void draw_summary(const LoadedTrace& t, int index);
  void draw_selection();
  void draw_compare();
  void draw_legend();
  void rebuild_layout();
  void clamp_view();

  ViewModel model_;
  LayoutOptions layout_opt_;
  Layout layout_;
  ViewRange range_;
  float scroll_y_ = 0;
  bool dragging_ = false;
  bool dragging_scrollbar_ = false;
  float drag_dist_ = 0;
  char search_buf_[256] = {};
  char ranks_buf_[128] = {};
  char stages_buf_[128] = {};
  std::string shown_error_;          // why the last ranks or stages typed were not taken
  std::string search_text_;
  SearchState search_;
  size_t search_hits_ = 0;
  Selection selected_;
  std::vector<FlowLink> selected_flows_;
  FrameParams params_;
  FrameGeometry geometry_;
  double build_ms_ = 0;
};

}  // namespace tandem::viewer
