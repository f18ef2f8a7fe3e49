// A Kineto trace's kernels lined up with a simulated trace's ops class by class (see kineto_lineup.h):
// paired kernels give points by shape (whole-device times, as the table holds them), the rest of a
// class its fit from totals.
#include "calib/kineto_lineup.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "hw/calibration.h"
#include "hw/model_fit.h"
#include "io/input_error.h"
#include "trace/kernel_class.h"
#include "trace/payload_args.h"

namespace tandem::calib {
namespace {

// The kernel classes the table can hold a fit for: compute kernels (communication is the links').
bool fittable(trace::KernelClass c) {
  switch (c) {
    case trace::KernelClass::DeepepData:
    case trace::KernelClass::DeepepNotify:
    case trace::KernelClass::Collective:
    case trace::KernelClass::PipelineP2p:
    case trace::KernelClass::Copy:
    case trace::KernelClass::Unknown: return false;
    default: return true;
  }
}

struct SimOp {
  const trace::Event* event;
  ir::OpPayload payload;
  double model_ns = 0.0;            // the default model's time on the whole device
};

// The model's time of `op` on `sms` SMs, and what the table's whole-device time of a kernel measured
// at `time_ns` beside the simulation's communication kernels (on `sms` SMs) is.
struct ModelTimes {
  const hw::CostModel& model;
  double on(const ir::OpPayload& op, int32_t sms) const {
    return double(model.model(op, sms > 0 ? sms : model.gpu().sms).ns);
  }
  double whole_device(const ir::OpPayload& op, int32_t sms, double time_ns) const {
    const double part = on(op, sms), whole = on(op, model.gpu().sms);
    return part > 0 ? time_ns * whole / part : time_ns;
  }
};

// Pairs `m` and `s` by rank of time: the k-th longest kernel with the op the model gives the k-th
// longest time, within each phase when every phase has as many of each. Not by order of issue: a
// framework issues a layer's kernels in an order of its own (DeepSeek's kv_down right after q_down,
// both reading the same input), and within a phase the shapes' times differ far more than the model
// errs (docs/calibrate.md).
std::vector<std::pair<const trace::Event*, const SimOp*>> pair_by_rank(std::vector<const trace::Event*> m,
                                                                      std::vector<const SimOp*> s, bool& by_phase) {
  auto longer = [](const trace::Event* a, const trace::Event* b) {
    return a->dur_ns != b->dur_ns ? a->dur_ns > b->dur_ns : a->start_ns < b->start_ns;
  };
  std::stable_sort(m.begin(), m.end(), longer);
  std::stable_sort(s.begin(), s.end(), [](const SimOp* a, const SimOp* b) {
    return a->model_ns != b->model_ns ? a->model_ns > b->model_ns : a->event->start_ns < b->event->start_ns;
  });
  std::map<char, std::pair<std::vector<const trace::Event*>, std::vector<const SimOp*>>> phases;
  for (const trace::Event* e : m) phases[e->phase].first.push_back(e);
  for (const SimOp* o : s) phases[o->event->phase].second.push_back(o);
  by_phase = std::all_of(phases.begin(), phases.end(), [](const auto& p) { return p.second.first.size() == p.second.second.size(); });
  std::vector<std::pair<const trace::Event*, const SimOp*>> out;
  if (by_phase) {
    for (auto& [phase, lists] : phases)
      for (size_t i = 0; i < lists.first.size(); ++i) out.emplace_back(lists.first[i], lists.second[i]);
  } else {
    for (size_t i = 0; i < m.size(); ++i) out.emplace_back(m[i], s[i]);
  }
  return out;
}

// The mean: one recording, and one payload may be two kernels (a SwiGLU's forward and backward share
// it in the IR), so a shape's point keeps its kernels' total.
double mean(const std::vector<double>& v) {
  double sum = 0.0;
  for (double x : v) sum += x;
  return v.empty() ? 0.0 : sum / double(v.size());
}

// time = launch + scale x w, the scale by least squares in relative error with the launch cost fixed:
// a profile's shapes of one class seldom span enough sizes to tell a fixed cost from the slope (the
// gate's three GEMMs, all about 45 us, would put 42 us of overhead on the 13 ms output head).
std::optional<LinearFit> fit_scale_at_launch(const std::vector<double>& w, const std::vector<double>& y, double launch_ns) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < w.size(); ++i) {
    num += w[i] * (y[i] - launch_ns) / (y[i] * y[i]);
    den += w[i] * w[i] / (y[i] * y[i]);
  }
  if (!(den > 0) || !(num > 0) || num / den > 1e9) return std::nullopt;
  LinearFit f;
  f.intercept = launch_ns;
  f.slope = num / den;
  f.points = w.size();
  double sq = 0.0;
  for (size_t i = 0; i < w.size(); ++i) {
    const double r = (launch_ns + f.slope * w[i] - y[i]) / y[i];
    sq += r * r;
    f.max_relative_error = std::max(f.max_relative_error, std::abs(r));
  }
  f.rms_relative_error = std::sqrt(sq / double(w.size()));
  return f;
}

}  // namespace

KinetoLineup line_up_kineto(const trace::Timeline& measured, const trace::Timeline& simulated,
                            const std::string& simulated_path, const hw::CostModel& model) {
  std::map<std::string, std::vector<const trace::Event*>> kernels;
  for (const trace::Event& e : measured.events) {
    const auto c = trace::kernel_class_of(measured, e);
    if (c && fittable(*c)) kernels[std::string(trace::to_string(*c))].push_back(&e);
  }
  std::vector<SimOp> sim_ops;
  for (const trace::Event& e : simulated.events) {
    const auto c = trace::kernel_class_of(simulated, e);
    if (!c || !fittable(*c)) continue;
    trace::PayloadRead p = trace::payload_from_args(simulated, e);
    if (!p.payload)
      throw io::InputError(simulated_path, fmt::format("event '{}'", simulated.str(e.name)),
                           "an op of tandem's own trace with its payload args (--shapes: `tandem simulate --trace`)",
                           p.problem);
    const double model_ns = double(model.model(*p.payload, model.gpu().sms).ns);
    sim_ops.push_back({&e, std::move(*p.payload), model_ns});
  }
  std::map<std::string, std::vector<const SimOp*>> ops;
  for (const SimOp& o : sim_ops)
    if (const auto c = hw::kernel_fit_class(o.payload)) ops[std::string(*c)].push_back(&o);

  const ModelTimes times{model};
  KinetoLineup out;
  std::map<std::pair<std::string, double>, std::pair<ir::OpPayload, std::vector<double>>> shapes;
  std::set<std::string> names;
  for (const auto& [name, list] : kernels) names.insert(name);
  for (const auto& [name, list] : ops) names.insert(name);
  for (const std::string& name : names) {
    const auto& m = kernels[name];
    const auto& s = ops[name];
    ClassLineup row;
    row.name = name;
    row.measured = int64_t(m.size());
    row.simulated = int64_t(s.size());
    for (const trace::Event* e : m) row.measured_ns += double(e->dur_ns);
    for (const SimOp* o : s) row.simulated_ns += double(o->event->dur_ns);
    ClassFit fit;
    fit.name = name;
    if (!s.empty()) fit.default_overhead_ns = double(model.launch_ns(s.front()->payload));
    fit.default_efficiency = 1.0;   // the scale itself says how far the default model is
    if (m.empty() || s.empty()) {
      fit.kept_because = m.empty() ? "no kernel of the class in the measured trace" : "no op of the class in the simulated trace";
    } else if (m.size() == s.size()) {
      row.paired = true;
      // Points by shape: the median of the whole-device times of the kernels paired with its ops; the
      // class's fit over its shapes serves shapes the trace did not hold.
      std::map<std::pair<std::string, double>, double> bodies;
      for (const auto& [kernel, op] : pair_by_rank(m, s, row.by_phase)) {
        const double t = times.whole_device(op->payload, op->event->sms, double(kernel->dur_ns));
        const hw::CalibrationKey k = hw::calibration_key(op->payload);
        auto& shape = shapes[{k.key, k.x}];
        if (shape.second.empty()) shape.first = op->payload;
        shape.second.push_back(t);
        bodies[{k.key, k.x}] = times.on(op->payload, model.gpu().sms) - fit.default_overhead_ns;
      }
      std::vector<double> w, y;
      for (const auto& [key, body] : bodies) {
        if (!(body > 0)) continue;
        w.push_back(body);
        y.push_back(mean(shapes[key].second));
      }
      fit.shapes = w.size();
      if (auto f = fit_scale_at_launch(w, y, fit.default_overhead_ns)) fit.fit = f;
      else fit.kept_because = "no shape with a model time beyond its launch cost";
    } else if (double(s.size()) < kMinSimulatedShare * double(m.size())) {
      fit.kept_because = fmt::format("{} simulated ops for {} kernels: not the same work", s.size(), m.size());
    } else {
      // From the totals: overhead the default launch cost, scale so that the simulated ops sum to the
      // measured kernels' time. Their simulated durations, not the model on the SMs they started with:
      // a kernel's SMs change while DeepEP's kernels start and end beside it (the simulated trace is of
      // the default model, docs/calibrate.md).
      double body = 0.0;
      for (const SimOp* o : s) body += double(o->event->dur_ns) - fit.default_overhead_ns;
      const double scale = (row.measured_ns - double(s.size()) * fit.default_overhead_ns) / body;
      if (body > 0 && scale > 0 && scale <= 1e9) {
        LinearFit f;
        f.intercept = fit.default_overhead_ns;
        f.slope = scale;
        f.points = s.size();
        fit.fit = f;
        fit.shapes = s.size();
      } else {
        fit.kept_because = fmt::format("the totals give no positive scale ({:.3f} ms measured, {} launches)", row.measured_ns / 1e6,
                                       s.size());
      }
    }
    out.classes.push_back(std::move(fit));
    out.lineup.push_back(row);
  }
  for (auto& [key, shape] : shapes) {
    ShapeSample sample;
    sample.payload = shape.first;
    sample.kind = std::string(ir::to_string(ir::kind_of(shape.first)));
    sample.identities = int64_t(shape.second.size());
    sample.instances = sample.identities;
    sample.time_ns = mean(shape.second);
    if (sample.time_ns > 0 && key.second > 0) out.shapes.push_back(std::move(sample));
  }
  return out;
}

}  // namespace tandem::calib
