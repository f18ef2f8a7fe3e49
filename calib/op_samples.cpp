// Taking calibration measurements from traces (see op_samples.h): checks that the traces belong
// together, drops warm-up steps, reads each op's payload from its args and takes medians per
// identity, then per shape.
#include "calib/op_samples.h"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hw/calibration.h"
#include "hw/cost_model.h"
#include "io/input_error.h"
#include "trace/kernel_class.h"
#include "trace/payload_args.h"

namespace tandem::calib {
namespace {

std::string meta(const trace::Timeline& tl, const std::string& key) {
  const auto it = tl.metadata.extra.find(key);
  return it == tl.metadata.extra.end() ? std::string() : it->second;
}

// The first field in which two JSON texts of the metadata differ, as "hidden_size: 64 in A, 128 in B".
std::string first_difference(const std::string& a, const std::string& b, const std::string& a_name,
                             const std::string& b_name) {
  const nlohmann::json ja = nlohmann::json::parse(a, nullptr, false), jb = nlohmann::json::parse(b, nullptr, false);
  if (ja.is_discarded() || jb.is_discarded()) return fmt::format("{} in {}, {} in {}", io::cut_for_message(a), a_name,
                                                                 io::cut_for_message(b), b_name);
  const nlohmann::json fa = ja.flatten(), fb = jb.flatten();
  std::set<std::string> keys;
  for (auto it = fa.begin(); it != fa.end(); ++it) keys.insert(it.key());
  for (auto it = fb.begin(); it != fb.end(); ++it) keys.insert(it.key());
  for (const std::string& k : keys) {
    const auto x = fa.find(k), y = fb.find(k);
    const std::string vx = x == fa.end() ? "absent" : io::cut_for_message(x->dump(), 60);
    const std::string vy = y == fb.end() ? "absent" : io::cut_for_message(y->dump(), 60);
    if (vx != vy) {
      std::string field = k.substr(1);
      std::replace(field.begin(), field.end(), '/', '.');
      return fmt::format("{}: {} in {}, {} in {}", field, vx, a_name, vy, b_name);
    }
  }
  return "the same fields written differently";
}

// Refuses traces that do not belong together: another source, device, model or plan than the first.
void check_same_program(std::span<const TraceInput> traces) {
  const TraceInput& first = traces[0];
  for (const TraceInput& t : traces.subspan(1)) {
    auto refuse = [&](const std::string& what, const std::string& difference) {
      throw io::InputError(t.path, "metadata." + what,
                           fmt::format("a trace of the same {} as {} (calibrate one program at a time)", what, first.path),
                           difference);
    };
    const trace::TraceSource a = first.timeline->metadata.source, b = t.timeline->metadata.source;
    if (a != b)
      refuse("source", fmt::format("source '{}' against '{}'", trace::to_string(b), trace::to_string(a)));
    for (const char* key : {"gpu", "gpus"}) {
      const std::string va = meta(*first.timeline, key), vb = meta(*t.timeline, key);
      if (va != vb) refuse(key, fmt::format("{} '{}' against '{}'", key, vb, va));
    }
    for (const char* key : {"model", "plan"}) {
      const std::string va = meta(*first.timeline, key), vb = meta(*t.timeline, key);
      if (va != vb) refuse(key, first_difference(vb, va, t.path, first.path));
    }
  }
}

// The steps a trace holds, in order (the `step` arg; none: one step, 0).
std::vector<int64_t> steps_of(const trace::Timeline& tl) {
  std::set<int64_t> steps;
  for (const trace::Event& e : tl.events)
    if (!tl.op_of(e).empty()) steps.insert(std::max<int64_t>(0, tl.int_arg(e, "step", 0)));
  return {steps.begin(), steps.end()};
}

bool measured_op(const trace::Timeline& tl, const trace::Event& e) {
  if (e.op == 0) return false;
  const trace::OpClass c = trace::op_class(tl.op_of(e));
  return c == trace::OpClass::Compute || c == trace::OpClass::Comm || c == trace::OpClass::Optimizer;
}

// The number of compute ops running in a trace over time (every rank, every stream), as a step function
// with its running integral, so that the mean over any interval is two lookups.
class Concurrency {
 public:
  explicit Concurrency(const trace::Timeline& tl) {
    std::vector<std::pair<int64_t, int32_t>> edges;
    for (const trace::Event& e : tl.events)
      if (holds_core(tl, e)) {
        edges.emplace_back(e.start_ns, 1);
        edges.emplace_back(e.end_ns(), -1);
      }
    std::sort(edges.begin(), edges.end());
    int64_t running = 0;
    double integral = 0;
    for (const auto& [t, d] : edges) {
      if (!at_.empty()) integral += double(running) * double(t - at_.back());
      at_.push_back(t);
      integral_.push_back(integral);
      running += d;
      running_.push_back(running);
    }
  }
  static bool holds_core(const trace::Timeline& tl, const trace::Event& e) {
    if (e.op == 0) return false;
    const trace::OpClass c = trace::op_class(tl.op_of(e));
    return c == trace::OpClass::Compute || c == trace::OpClass::Optimizer;
  }
  // Mean number running over [start, end] (at least 1: the op itself).
  double mean(int64_t start, int64_t end) const {
    if (end <= start) return std::max(1.0, double(running_at(start)));
    return std::max(1.0, (integral_at(end) - integral_at(start)) / double(end - start));
  }

 private:
  size_t index(int64_t t) const {   // the last edge at or before t
    return size_t(std::upper_bound(at_.begin(), at_.end(), t) - at_.begin()) - 1;
  }
  int64_t running_at(int64_t t) const { return at_.empty() || t < at_.front() ? 0 : running_[index(t)]; }
  double integral_at(int64_t t) const {
    if (at_.empty() || t <= at_.front()) return 0.0;
    const size_t i = index(t);
    return integral_[i] + double(running_[i]) * double(t - at_[i]);
  }
  std::vector<int64_t> at_;
  std::vector<double> integral_;
  std::vector<int64_t> running_;
};

struct Identity {
  ir::OpPayload payload;
  std::string kind;
  std::vector<double> times;
  int64_t node_crossing = 0;        // communication: 1 when the op leaves its node
};

// Kineto traces: per kind only.
void collect_kinds(const TraceInput& t, Samples& out, std::map<std::string, std::vector<double>>& times) {
  const trace::Timeline& tl = *t.timeline;
  for (const trace::Event& e : tl.events) {
    if (!measured_op(tl, e)) continue;
    const std::string kind(tl.op_of(e));
    if (kind == "kernel") {
      ++out.unknown_kinds[std::string(tl.name_of(e))];
      continue;
    }
    // The map's kernel class, when it gives one, splits a kind (FP8 and BF16 GEMMs, say).
    const trace::Arg* cls = tl.find_arg(e, trace::kClassArg);
    const std::string key = cls && cls->type == trace::ArgType::Text
                                ? fmt::format("{} ({})", kind, tl.str(uint32_t(cls->int_value)))
                                : kind;
    times[key].push_back(double(e.dur_ns));
    ++out.ops_used;
  }
}

}  // namespace

double median(std::vector<double>& v) {
  if (v.empty()) return 0.0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(mid), v.end());
  const double upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + std::ptrdiff_t(mid));
  return (lower + upper) / 2.0;
}

Samples collect_samples(std::span<const TraceInput> traces, const SampleOptions& options) {
  if (traces.empty()) throw io::InputError("calibrate", "TRACE", "at least one trace", "none");
  check_same_program(traces);
  Samples out;
  const trace::Timeline& first = *traces[0].timeline;
  out.source = std::string(trace::to_string(first.metadata.source));
  out.device = meta(first, "gpu");
  out.scenario = first.metadata.scenario;
  out.warmup_default = options.warmup < 0;
  const bool kineto = first.metadata.source == trace::TraceSource::Kineto ||
                      first.metadata.source == trace::TraceSource::Unknown;
  if (out.source.empty()) out.source = "kineto";

  std::map<std::pair<int32_t, int64_t>, Identity> identities;
  std::map<std::string, std::vector<double>> kind_times;
  int64_t gpus_per_node = 0;
  if (const std::string g = meta(first, "gpus_per_node"); !g.empty()) gpus_per_node = std::stoll(g);

  for (const TraceInput& t : traces) {
    const trace::Timeline& tl = *t.timeline;
    out.events += int64_t(tl.events.size());
    if (kineto) {
      collect_kinds(t, out, kind_times);
      continue;
    }
    const std::vector<int64_t> steps = steps_of(tl);
    if (steps.empty()) throw io::InputError(t.path, "traceEvents", "ops with an `op` arg to calibrate from", "none");
    out.steps_held = std::max<int64_t>(out.steps_held, int64_t(steps.size()));
    const int64_t warmup = options.warmup >= 0 ? options.warmup : steps.size() >= 3 ? 1 : 0;
    if (warmup >= int64_t(steps.size()))
      throw io::InputError(options.warmup_option, "",
                           fmt::format("fewer warm-up steps than the {} step(s) {} holds", steps.size(), t.path),
                           std::to_string(warmup));
    out.warmup = std::max(out.warmup, warmup);
    const int64_t first_kept = steps[size_t(warmup)];

    // Communication: each op's transfer time is counted from the last member's start (the time it
    // waited for its peers left out); members share (step, tag).
    std::map<std::pair<int64_t, int64_t>, int64_t> last_start;
    for (const trace::Event& e : tl.events) {
      if (!measured_op(tl, e) || trace::op_class(tl.op_of(e)) != trace::OpClass::Comm) continue;
      const int64_t tag = tl.int_arg(e, "tag", -1);
      if (tag < 0) continue;
      auto [it, fresh] = last_start.try_emplace({tl.int_arg(e, "step", 0), tag}, e.start_ns);
      if (!fresh) it->second = std::max(it->second, e.start_ns);
    }

    std::optional<Concurrency> running;
    if (options.core_share) running.emplace(tl);
    for (size_t i = 0; i < tl.events.size(); ++i) {
      const trace::Event& e = tl.events[i];
      if (!measured_op(tl, e)) continue;
      const int64_t step = std::max<int64_t>(0, tl.int_arg(e, "step", 0));
      if (step < first_kept) continue;
      auto where = [&] { return fmt::format("traceEvents: event #{} ({} of rank {})", i, tl.name_of(e), e.pid); };
      if (e.id < 0) throw io::InputError(t.path, where(), "an `id` arg (the op's position in its rank's program)", "none");
      const trace::PayloadRead read = trace::payload_from_args(tl, e);
      if (!read.payload) throw io::InputError(t.path, where(), "an op tandem knows, with its payload args", read.problem);
      double time = double(e.dur_ns);
      const auto* comm = std::get_if<ir::Comm>(&*read.payload);
      if (comm) {
        const auto it = last_start.find({tl.int_arg(e, "step", 0), tl.int_arg(e, "tag", -1)});
        if (it != last_start.end() && e.end_ns() > it->second) time = double(e.end_ns() - it->second);
      } else if (e.sms > 0 && options.whole_device_time) {
        time = options.whole_device_time(*read.payload, e.sms, time);
      } else if (running && Concurrency::holds_core(tl, e)) {
        time *= options.core_share(running->mean(e.start_ns, e.end_ns()));
      }
      Identity& id = identities[{e.pid, e.id}];
      if (id.times.empty()) {
        id.payload = *read.payload;
        id.kind = std::string(tl.op_of(e));
        if (comm && gpus_per_node > 0) {
          // A pipeline send or receive crosses nodes when its peer is on another; a collective when its
          // group is larger than a node (groups are ranks close together, docs/calibrate.md).
          const int64_t peer = tl.int_arg(e, "peer", -1);
          id.node_crossing = peer >= 0 ? (peer / gpus_per_node != e.pid / gpus_per_node)
                                       : comm->group_size > gpus_per_node;
        }
      }
      id.times.push_back(time);
      ++out.ops_used;
    }
  }

  if (kineto) {
    for (auto& [kind, times] : kind_times) {
      KindSample k;
      k.kind = kind;
      k.count = int64_t(times.size());
      for (double v : times) k.total_ns += v;
      k.median_ns = median(times);
      out.kinds.push_back(k);
    }
    if (out.kinds.empty())
      throw io::InputError(traces[0].path, "traceEvents", "device kernels of a known kind to calibrate from",
                           fmt::format("none ({} kernels of no known kind)", out.unknown_kinds.size()));
    return out;
  }

  // Per shape: the median over the identities of their medians over steps.
  struct Shape {
    ir::OpPayload payload;
    std::string kind;
    std::vector<double> medians;
    int64_t instances = 0;
  };
  std::map<std::pair<std::string, double>, Shape> shapes;
  for (auto& [key, id] : identities) {
    const int64_t instances = int64_t(id.times.size());
    const double t = median(id.times);
    if (const auto* comm = std::get_if<ir::Comm>(&id.payload)) {
      if (!(t > 0)) {
        ++out.zero_time;
        continue;
      }
      CommSample c;
      c.comm = *comm;
      c.kind = id.kind;
      c.time_ns = t;
      c.bus_bytes = double(comm->bytes) * hw::bus_bytes_factor(comm->kind, comm->group_size);
      c.across_nodes = id.node_crossing != 0;
      c.rank = key.first;
      c.id = key.second;
      out.comms.push_back(c);
      continue;
    }
    const hw::CalibrationKey k = hw::calibration_key(id.payload);
    Shape& s = shapes[{k.key, k.x}];
    if (s.medians.empty()) {
      s.payload = id.payload;
      s.kind = id.kind;
    }
    s.medians.push_back(t);
    s.instances += instances;
  }
  for (auto& [key, s] : shapes) {
    ShapeSample sample;
    sample.payload = s.payload;
    sample.kind = s.kind;
    sample.identities = int64_t(s.medians.size());
    sample.instances = s.instances;
    sample.time_ns = median(s.medians);
    // A point needs a size and a time (the table's fields are positive).
    if (!(sample.time_ns > 0) || !(key.second > 0)) {
      ++out.zero_time;
      continue;
    }
    out.shapes.push_back(std::move(sample));
  }
  if (out.shapes.empty() && out.comms.empty())
    throw io::InputError(traces[0].path, "traceEvents", "ops with a measured time to calibrate from", "none");
  return out;
}

}  // namespace tandem::calib
