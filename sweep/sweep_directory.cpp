// A sweep's directory: its definition, one atomically written record per point (sweep_directory.h).
#include "sweep/sweep_directory.h"

#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "io/input_error.h"
#include "io/input_file.h"
#include "io/json_document.h"
#include "io/output_file.h"

namespace tandem::sweep {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr uint64_t kMaxRecordBytes = 64u << 20;
}

std::string first_difference(const json& a, const json& b, const std::string& at) {
  if (a == b) return "";
  if (a.is_object() && b.is_object()) {
    for (const auto& [k, v] : a.items()) {
      const std::string path = at.empty() ? k : at + "." + k;
      if (!b.contains(k)) return path;
      const std::string d = first_difference(v, b[k], path);
      if (!d.empty()) return d;
    }
    for (const auto& [k, v] : b.items())
      if (!a.contains(k)) return at.empty() ? k : at + "." + k;
  }
  if (a.is_array() && b.is_array() && a.size() == b.size())
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string d = first_difference(a[i], b[i], fmt::format("{}[{}]", at, i));
      if (!d.empty()) return d;
    }
  return at.empty() ? "(the whole definition)" : at;
}

SweepDirectory::SweepDirectory(std::string dir) : dir_(std::move(dir)) {}

std::string SweepDirectory::file(const std::string& name) const { return (fs::path(dir_) / name).string(); }

std::string SweepDirectory::point_path(int64_t index) const {
  return (fs::path(dir_) / "points" / fmt::format("{:06d}.json", index)).string();
}

void SweepDirectory::prepare(const json& definition) const {
  std::error_code ec;
  fs::create_directories(fs::path(dir_) / "points", ec);
  if (ec) throw io::InputError("--out " + dir_, "", "a directory tandem can create and write", ec.message());
  const std::string def_path = file("sweep.json");
  if (fs::exists(def_path, ec)) {
    json stored;
    try {
      stored = io::read_json_document(def_path, kMaxRecordBytes, "a sweep definition");
    } catch (const io::InputError& e) {
      throw io::InputError(def_path, "", "the definition an earlier sweep wrote here (or another --out)", e.what());
    }
    const std::string diff = first_difference(stored, definition);
    if (!diff.empty()) {
      // The changed part as it was and as it is (its top-level field, cut to one line).
      const std::string key = diff.substr(0, diff.find_first_of(".["));
      auto part = [&](const json& j) { return j.contains(key) ? io::json_excerpt(j[key]) : std::string("nothing"); };
      throw io::InputError(def_path, diff, "the same sweep as the one whose results this directory holds (or another --out)",
                           fmt::format("a changed {}: {} before, {} now", key, part(stored), part(definition)));
    }
  } else {
    io::write_output_file(def_path, definition.dump(2) + "\n");
  }
  // A run killed while writing a point leaves its temporary file (io::OutputFile names it *.tmp).
  for (const auto& entry : fs::directory_iterator(fs::path(dir_) / "points", ec))
    if (entry.path().extension() == ".tmp") fs::remove(entry.path(), ec);
}

std::optional<json> SweepDirectory::load_point(const SweepPoint& point) const {
  const std::string path = point_path(point.index);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  try {
    json record = io::read_json_document(path, kMaxRecordBytes, "a sweep point's record");
    const json want = point.describe();
    for (const auto& [k, v] : want.items())
      if (!record.contains(k) || record[k] != v) return std::nullopt;
    if (!record.contains("status") || !record["status"].is_string()) return std::nullopt;
    return record;
  } catch (const io::InputError&) {
    return std::nullopt;
  }
}

void SweepDirectory::store_point(const json& record) const {
  io::write_output_file(point_path(record["point"].get<int64_t>()), record.dump() + "\n");
}

}  // namespace tandem::sweep
