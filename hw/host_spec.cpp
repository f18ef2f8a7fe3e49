// Reading and writing the host description (host_spec.h), its GpuSpec view and the cluster a host is
// simulated as.
#include "hw/host_spec.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "io/input_error.h"
#include "io/json_document.h"

namespace tandem::hw {

namespace {

constexpr std::string_view kFormat = "tandem-host";
constexpr int64_t kVersion = 2;   // 2: parallel_cores

class FieldReader {
 public:
  FieldReader(const nlohmann::json& doc, const std::string& source) : doc_(doc), source_(source) {}
  [[noreturn]] void fail(const std::string& field, const std::string& expected, const std::string& found) const {
    throw io::InputError(source_, field, expected, found);
  }
  const nlohmann::json& get(const std::string& field) const {
    const auto it = doc_.find(field);
    if (it == doc_.end()) fail(field, expected_of(field), "nothing (missing field)");
    return *it;
  }
  double positive(const std::string& field, double max) const {
    const nlohmann::json& v = get(field);
    if (!v.is_number() || !std::isfinite(v.get<double>()) || !(v.get<double>() > 0) || v.get<double>() > max)
      fail(field, fmt::format("a positive number up to {:g}", max), io::describe_json_value(v));
    return v.get<double>();
  }
  int64_t integer(const std::string& field, int64_t min, int64_t max) const {
    const nlohmann::json& v = get(field);
    const bool whole = v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                                 std::floor(v.get<double>()) == v.get<double>());
    if (!whole || v.get<double>() < double(min) || v.get<double>() > double(max))
      fail(field, fmt::format("an integer in [{}, {}]", min, max), io::describe_json_value(v));
    return int64_t(v.get<double>());
  }
  double number(const std::string& field, double min, double max) const {
    const nlohmann::json& v = get(field);
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < min || v.get<double>() > max)
      fail(field, fmt::format("a number in [{:g}, {:g}]", min, max), io::describe_json_value(v));
    return v.get<double>();
  }
  std::string text(const std::string& field) const {
    const nlohmann::json& v = get(field);
    if (!v.is_string()) fail(field, "a string", io::describe_json_value(v));
    return v.get<std::string>();
  }

 private:
  static std::string expected_of(const std::string& field) {
    return field == "machine" || field == "format" ? "a string" : "a number";
  }
  const nlohmann::json& doc_;
  const std::string& source_;
};

// Field names, in the order they are written.
constexpr const char* kFields[] = {"format", "version", "machine", "cores", "memory_bytes", "gemm_flops_per_s",
                                   "fp8_gemm_flops_per_s", "attention_flops_per_s", "quantize_bytes_per_s",
                                   "memory_bytes_per_s", "op_overhead_ns", "copy_bytes_per_s", "handoff_latency_ns",
                                   "background_threads", "parallel_cores"};

}  // namespace

bool is_host_device(std::string_view gpu) {
  return gpu.size() == kHostDevice.size() &&
         std::equal(gpu.begin(), gpu.end(), kHostDevice.begin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

GpuSpec host_device_spec(const HostSpec& h) {
  GpuSpec g;
  g.name = kHostDevice;
  g.sms = std::max<int64_t>(1, std::llround(h.parallel_cores * double(kHostShareUnits)));
  g.boost_clock_hz = 0;
  // A rank's ops run on one core at a time (one thread per stream, --threads 1).
  g.fp8_flops = h.fp8_gemm_flops_per_s;
  g.bf16_flops = h.gemm_flops_per_s;
  g.fp32_flops = h.gemm_flops_per_s;
  g.hbm_bytes = h.memory_bytes;
  g.hbm_bytes_per_s = h.memory_bytes_per_s;
  g.nvlink_bytes_per_s = 2 * h.copy_bytes_per_s;
  return g;
}

HostSpec parse_host_spec(const nlohmann::json& doc, const std::string& source) {
  if (!doc.is_object()) throw io::InputError(source, "(file)", "a JSON object (a host description)", io::describe_json_value(doc));
  const FieldReader r(doc, source);
  if (r.text("format") != kFormat)
    r.fail("format", fmt::format("\"{}\" (a file written by tandem probe)", kFormat), io::describe_json_value(doc["format"]));
  if (r.get("version") == 1)
    r.fail("version", "2 (version 1 lacks parallel_cores: run tandem probe again)", "1");
  r.integer("version", kVersion, kVersion);
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (std::find_if(std::begin(kFields), std::end(kFields), [&](const char* f) { return it.key() == f; }) == std::end(kFields))
      r.fail(it.key(), "no such field in a host description", "unknown field '" + io::cut_for_message(it.key(), 40) + "'");
  HostSpec h;
  h.machine = r.text("machine");
  h.cores = r.integer("cores", 1, 4096);
  h.memory_bytes = r.integer("memory_bytes", 1, int64_t(1) << 52);
  constexpr double kMaxRate = 1e16;   // FLOP/s or bytes/s of one core or one copy: far above any machine
  h.gemm_flops_per_s = r.positive("gemm_flops_per_s", kMaxRate);
  h.fp8_gemm_flops_per_s = r.positive("fp8_gemm_flops_per_s", kMaxRate);
  h.attention_flops_per_s = r.positive("attention_flops_per_s", kMaxRate);
  h.quantize_bytes_per_s = r.positive("quantize_bytes_per_s", kMaxRate);
  h.memory_bytes_per_s = r.positive("memory_bytes_per_s", kMaxRate);
  h.op_overhead_ns = r.integer("op_overhead_ns", 0, 1000000000);
  h.copy_bytes_per_s = r.positive("copy_bytes_per_s", kMaxRate);
  h.handoff_latency_ns = r.integer("handoff_latency_ns", 0, 1000000000);
  h.background_threads = doc.contains("background_threads") ? r.number("background_threads", 0, 1e6) : 0.0;
  h.parallel_cores = r.positive("parallel_cores", double(h.cores));
  h.device = host_device_spec(h);
  return h;
}

HostSpec load_host_spec(const std::string& path) {
  return parse_host_spec(io::read_json_document(path, kMaxHostFileBytes, "a host description"), path);
}

nlohmann::ordered_json host_spec_json(const HostSpec& h) {
  nlohmann::ordered_json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["machine"] = h.machine;
  j["cores"] = h.cores;
  j["memory_bytes"] = h.memory_bytes;
  j["gemm_flops_per_s"] = h.gemm_flops_per_s;
  j["fp8_gemm_flops_per_s"] = h.fp8_gemm_flops_per_s;
  j["attention_flops_per_s"] = h.attention_flops_per_s;
  j["quantize_bytes_per_s"] = h.quantize_bytes_per_s;
  j["memory_bytes_per_s"] = h.memory_bytes_per_s;
  j["op_overhead_ns"] = h.op_overhead_ns;
  j["copy_bytes_per_s"] = h.copy_bytes_per_s;
  j["handoff_latency_ns"] = h.handoff_latency_ns;
  j["background_threads"] = h.background_threads;
  j["parallel_cores"] = h.parallel_cores;
  return j;
}

std::string default_host_spec_path() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) return std::string(xdg) + "/tandem/host.json";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.config/tandem/host.json";
  return "";
}

ir::ClusterConfig host_cluster(const ir::ClusterConfig& cluster, const HostSpec& h) {
  ir::ClusterConfig c = cluster;
  c.nodes = 1;
  c.gpus_per_node = cluster.world_size();
  c.nics_per_node = c.gpus_per_node;
  c.planes = 1;
  c.switch_tiers = 1;
  c.nvlink_bytes_per_s = 2 * h.copy_bytes_per_s;   // both directions, as the topology reads NVLink
  c.nvlink_latency_ns = h.handoff_latency_ns;
  return c;
}

NetworkParams host_network() { return NetworkParams{1.0, 1.0}; }

}  // namespace tandem::hw
