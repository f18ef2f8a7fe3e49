// Calibration table: measured kernel times by shape (JSON), overriding the default cost model.
// Each op kind has one size variable (GEMM rows, attention sequences, norm rows, ...) and a key made
// of every other field; times are interpolated linearly in the size variable inside the measured
// range; outside it the default model is scaled by the measured/model ratio of the nearest point.
// Version 2 (`tandem calibrate`) adds per-class fits of the default model and fitted links.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hw/model_fit.h"
#include "hw/topology.h"
#include "ir/cluster_config.h"
#include "ir/op.h"

namespace tandem::hw {

// The key of an op's shape without its size variable, and the size variable itself. Comm payloads
// have no key ("" and 0): communication is calibrated through link parameters, not this table.
struct CalibrationKey {
  std::string key;   // e.g. "gemm a=fp8_e4m3 b=fp8_e4m3 out=bf16 n=7168 k=2048 groups=1 split_k=0"
  double x = 0.0;    // e.g. m
};
CalibrationKey calibration_key(const ir::OpPayload& op);
// A copy of `op` with its size variable set to x (for grouped GEMMs the group rows scale with it).
ir::OpPayload with_calibration_size(const ir::OpPayload& op, double x);
// The point object of `op` measured at `time_us`, as the table reads it (the key's fields and the size
// variable; a grouped GEMM's groups as equal shares of its rows). Null for communication.
nlohmann::ordered_json calibration_point(const ir::OpPayload& op, double time_us);

// A link class fitted from communication ops: time = latency + bus bytes / bandwidth (bus bytes as
// bus_bytes_factor counts them). Classes: "nvlink" (inside a node), "ib" (across nodes).
struct LinkFit {
  double bytes_per_s = 0.0;   // per direction, per rank
  double latency_ns = 0.0;    // per op
};
// The file's newest version; version 1 files (points only) are read too.
inline constexpr int kCalibrationVersion = 2;

class CalibrationTable {
 public:
  enum class Hit : uint8_t { None, Inside, Outside };
  struct Lookup {
    Hit hit = Hit::None;
    double time_ns = 0.0;  // Inside: interpolated; Outside: the nearest measured point's time
    double edge_x = 0.0;   // Outside: the nearest measured point's size
  };
  struct Point {
    double x, time_ns;
  };

  CalibrationTable() = default;
  // Throw io::InputError: "<source>: at <json path>: expected ..., found ..."; files are read within
  // 64 MiB through io's bounded JSON reader.
  static CalibrationTable parse(const nlohmann::json& doc, const std::string& source);
  static CalibrationTable parse_text(const std::string& text, const std::string& source);
  static CalibrationTable load(const std::string& path);

  Lookup lookup(const ir::OpPayload& op) const;
  size_t curves() const { return curves_.size(); }
  size_t points() const;
  const std::string& gpu() const { return gpu_; }
  const std::map<std::string, std::vector<Point>>& table() const { return curves_; }
  // The fit of the op's class (model_fit.h), or nullptr.
  const ModelFit* fit_for(const ir::OpPayload& op) const;
  const std::map<std::string, ModelFit, std::less<>>& fits() const { return fits_; }
  const std::map<std::string, LinkFit>& links() const { return links_; }
  // The fitted links in the simulator's terms: "nvlink" sets the NVLink efficiency (bandwidth over
  // the nominal per direction, nvlink_bytes_per_s / 2) and latency, "ib" the NIC efficiency and the
  // IB latencies (the cross-leaf one keeps its difference to the same-leaf one).
  void apply_links(ir::ClusterConfig& cluster, NetworkParams& network) const;

 private:
  std::string gpu_;
  std::map<std::string, std::vector<Point>> curves_;   // sorted by x, distinct x
  std::map<std::string, ModelFit, std::less<>> fits_;
  std::map<std::string, LinkFit> links_;
};

}  // namespace tandem::hw
