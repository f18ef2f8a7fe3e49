// Colours of the timeline: one per phase (forward, backward-input, backward-weight), for
// communication, optimizer, copies, host work and annotations, plus bubbles and the chrome.
// Packed the way ImGui's IM_COL32 packs them, so pure layout code needs no ImGui header.
#pragma once
#include <cstdint>
#include <string_view>

#include "trace/timeline.h"

namespace tandem::viewer {

struct Rgba {
  uint8_t r = 0, g = 0, b = 0, a = 255;
  constexpr uint32_t packed() const {
    return uint32_t{r} | (uint32_t{g} << 8) | (uint32_t{b} << 16) | (uint32_t{a} << 24);
  }
  static constexpr Rgba unpack(uint32_t v) {
    return {static_cast<uint8_t>(v & 0xff), static_cast<uint8_t>((v >> 8) & 0xff),
            static_cast<uint8_t>((v >> 16) & 0xff), static_cast<uint8_t>(v >> 24)};
  }
  constexpr bool operator==(const Rgba&) const = default;
};

enum class ColourClass : uint8_t {
  Forward, BackwardInput, BackwardWeight, ComputeOther, Comm, Optimizer, Copy, Host, Annotation, kCount
};
inline constexpr int kColourClasses = static_cast<int>(ColourClass::kCount);

ColourClass colour_class(trace::OpClass c, char phase);
Rgba class_colour(ColourClass c);
std::string_view to_string(ColourClass c);   // legend text

namespace palette {
inline constexpr Rgba kBubble{200, 48, 48};          // idle gap on a compute stream
inline constexpr Rgba kBackground{22, 22, 26};
inline constexpr Rgba kTrackEven{30, 30, 36};
inline constexpr Rgba kTrackOdd{36, 36, 43};
inline constexpr Rgba kHeader{52, 58, 74};
inline constexpr Rgba kTraceHeader{72, 62, 98};
inline constexpr Rgba kText{230, 230, 235};
inline constexpr Rgba kDimText{160, 160, 170};
inline constexpr Rgba kSelection{255, 255, 255};
inline constexpr Rgba kSearchHit{255, 235, 59};
inline constexpr Rgba kRuler{44, 44, 52};
inline constexpr Rgba kTick{120, 120, 135};
inline constexpr Rgba kFlow{255, 255, 255, 200};
}  // namespace palette

// `c` blended three quarters of the way to the background (search non-matches).
Rgba dim(Rgba c);

}  // namespace tandem::viewer
