// Pieces of SVG text shared by tandem's charts (compare --svg, sweep plots): escaping of text and
// the opening of a self-contained document with a white background.
#pragma once
#include <string>

#include <fmt/format.h>

namespace tandem::trace {

// `s` with &, <, > and " escaped for SVG text and attribute values.
inline std::string svg_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

// "<svg ...>" of the given size (12-point sans-serif) and a white background; close with "</svg>\n".
inline std::string svg_open(double width, double height) {
  return fmt::format(
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" viewBox=\"0 0 {:.0f} {:.0f}\" "
             "font-family=\"sans-serif\" font-size=\"12\">\n",
             width, height, width, height) +
         fmt::format("<rect width=\"{:.0f}\" height=\"{:.0f}\" fill=\"white\"/>\n", width, height);
}

}  // namespace tandem::trace
