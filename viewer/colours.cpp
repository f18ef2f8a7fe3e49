// Phase and op-class colours of the timeline (chosen to be told apart, bubbles in red).
#include "viewer/colours.h"

namespace tandem::viewer {

ColourClass colour_class(trace::OpClass c, char phase) {
  switch (c) {
    case trace::OpClass::Compute:
      return phase == 'F' ? ColourClass::Forward
             : phase == 'B' ? ColourClass::BackwardInput
             : phase == 'W' ? ColourClass::BackwardWeight
                            : ColourClass::ComputeOther;
    case trace::OpClass::Comm: return ColourClass::Comm;
    case trace::OpClass::Optimizer: return ColourClass::Optimizer;
    case trace::OpClass::Copy: return ColourClass::Copy;
    case trace::OpClass::Host: return ColourClass::Host;
    case trace::OpClass::Annotation: return ColourClass::Annotation;
  }
  return ColourClass::ComputeOther;
}

Rgba class_colour(ColourClass c) {
  switch (c) {
    case ColourClass::Forward: return {66, 133, 244};
    case ColourClass::BackwardInput: return {52, 168, 83};
    case ColourClass::BackwardWeight: return {171, 71, 188};
    case ColourClass::ComputeOther: return {0, 150, 136};
    case ColourClass::Comm: return {245, 124, 0};
    case ColourClass::Optimizer: return {205, 180, 40};
    case ColourClass::Copy: return {141, 110, 99};
    case ColourClass::Host: return {120, 128, 140};
    case ColourClass::Annotation: return {70, 80, 98};
    case ColourClass::kCount: break;
  }
  return {255, 0, 255};
}

std::string_view to_string(ColourClass c) {
  switch (c) {
    case ColourClass::Forward: return "forward (F)";
    case ColourClass::BackwardInput: return "backward input (B)";
    case ColourClass::BackwardWeight: return "backward weight (W)";
    case ColourClass::ComputeOther: return "compute, no phase";
    case ColourClass::Comm: return "communication";
    case ColourClass::Optimizer: return "optimizer";
    case ColourClass::Copy: return "copy";
    case ColourClass::Host: return "host";
    case ColourClass::Annotation: return "annotation";
    case ColourClass::kCount: break;
  }
  return "?";
}

Rgba dim(Rgba c) {
  auto mix = [](uint8_t x, uint8_t bg) { return static_cast<uint8_t>((x + 3 * bg) / 4); };
  return {mix(c.r, palette::kBackground.r), mix(c.g, palette::kBackground.g), mix(c.b, palette::kBackground.b), c.a};
}

}  // namespace tandem::viewer
