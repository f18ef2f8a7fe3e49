// Parsing of per-expert load files (see expert_load.h).
#include "sim/expert_load.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tandem::sim {

std::vector<double> parse_expert_load(const std::string& text, const std::string& source, int64_t experts) {
  auto fail = [&](const std::string& where, const std::string& expected, const std::string& found) {
    throw std::invalid_argument(fmt::format("{}: {}: expected {}, found {}", source, where, expected, found));
  };
  std::vector<double> loads;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      fail("(file)", "a JSON array of numbers", fmt::format("invalid JSON ({})", e.what()));
    }
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_number()) fail(fmt::format("[{}]", i), "a number", j[i].dump());
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
  constexpr size_t kMaxBytes = size_t(16) << 20;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw std::invalid_argument(path + ": (file): expected an expert load file, found a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(path + ": cannot open the expert load file");
  // Read no more than one chunk past the limit, so that an endless file (a device, a pipe) ends too.
  std::string text;
  char chunk[1 << 16];
  while (text.size() <= kMaxBytes && in.read(chunk, sizeof chunk).gcount() > 0) text.append(chunk, size_t(in.gcount()));
  if (text.size() > kMaxBytes)
    throw std::invalid_argument(path + ": expected an expert load file under 16 MiB, found a larger file");
  return parse_expert_load(text, path, experts);
}

}  // namespace tandem::sim
