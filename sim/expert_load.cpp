// Parsing of per-expert load files (see expert_load.h).
#include "sim/expert_load.h"

#include <cmath>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/input_file.h"
#include "io/json_document.h"

namespace tandem::sim {

std::vector<double> parse_expert_load(const std::string& text, const std::string& source, int64_t experts) {
  auto fail = [&](const std::string& where, const std::string& expected, const std::string& found) {
    throw io::InputError(source, where, expected, found);
  };
  std::vector<double> loads;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    const nlohmann::json j = io::parse_json_document(text, source, "a JSON array of loads");
    if (!j.is_array()) fail("(top level)", "a JSON array of numbers", io::describe_json_value(j));
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_number()) fail(fmt::format("[{}]", i), "a number", io::json_excerpt(j[i]));
      loads.push_back(j[i].get<double>());
    }
  } else {
    std::istringstream in(text);
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
      for (char& c : line)
        if (c == ',') c = ' ';
      std::istringstream words(line);
      std::string w;
      while (words >> w) {
        size_t used = 0;
        double v = 0;
        try {
          v = std::stod(w, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != w.size()) fail(fmt::format("line {}", line_no), "a number", fmt::format("'{}'", w));
        loads.push_back(v);
      }
    }
  }
  for (size_t i = 0; i < loads.size(); ++i)
    if (!(loads[i] >= 0) || !std::isfinite(loads[i]))
      fail(fmt::format("load {}", i), "a non-negative number", fmt::format("{}", loads[i]));
  if (int64_t(loads.size()) != experts)
    fail("(file)", fmt::format("{} loads, one per routed expert", experts), fmt::format("{} loads", loads.size()));
  double sum = 0;
  for (double l : loads) sum += l;
  if (!(sum > 0)) fail("(file)", "loads with a positive sum", "all zero");
  return loads;
}

std::vector<double> load_expert_load(const std::string& path, int64_t experts) {
  constexpr uint64_t kMaxBytes = uint64_t(16) << 20;
  return parse_expert_load(io::read_input_file(path, kMaxBytes, "an expert load file"), path, experts);
}

}  // namespace tandem::sim
