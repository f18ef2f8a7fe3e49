// The directory of a sweep: DIR/sweep.json (the definition, to tell a rerun of the same sweep from a
// changed one), DIR/points/NNNNNN.json (one record per finished point, each written atomically, so a
// killed sweep continues where it stopped) and the combined outputs beside them.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "sweep/sweep_points.h"

namespace tandem::sweep {

class SweepDirectory {
 public:
  explicit SweepDirectory(std::string dir);

  // Creates DIR and DIR/points and writes DIR/sweep.json, or, when DIR already holds a sweep, checks
  // that `definition` is the same (io::InputError naming the first field that differs: a changed
  // sweep would mix results of two studies). Removes temporary files a killed run left in points/.
  void prepare(const nlohmann::json& definition) const;

  // The stored record of `point`, when its file is there, reads as JSON and describes the same
  // point; nothing otherwise (the point is run again).
  std::optional<nlohmann::json> load_point(const SweepPoint& point) const;
  // Writes the point's record (complete or absent: io::OutputFile). Throws io::OutputError.
  void store_point(const nlohmann::json& record) const;

  std::string point_path(int64_t index) const;
  std::string file(const std::string& name) const;   // DIR/name
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// The first place where two JSON values differ, as a dotted path ("grid[1].values"), "" when equal.
std::string first_difference(const nlohmann::json& a, const nlohmann::json& b, const std::string& at = "");

}  // namespace tandem::sweep
