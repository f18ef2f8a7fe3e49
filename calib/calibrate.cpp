// The fits of `tandem calibrate` (see calibrate.h): per op class against the default cost model of the
// device, per link class against bus bytes.
#include "calib/calibrate.h"

#include <map>
#include <set>

#include <fmt/format.h>

#include "calib/kineto_lineup.h"
#include "hw/calibration.h"
#include "hw/cost_model.h"
#include "hw/gpu_catalogue.h"
#include "hw/model_fit.h"
#include "io/input_error.h"

namespace tandem::calib {
namespace {

// The efficiency of the default model that the class's scale stands for (hw/cost_model.h).
double default_efficiency(std::string_view cls, const hw::CostParams& p) {
  if (cls.starts_with("gemm")) return p.gemm_mainloop_efficiency;
  if (cls == "attention_fwd") return p.attention_fwd_efficiency;
  if (cls == "attention_bwd") return p.attention_bwd_efficiency;
  return p.hbm_efficiency;
}

std::vector<ClassFit> fit_classes(const Samples& s, const hw::CostModel& model) {
  struct Points {
    std::vector<double> w, y;
    double launch_ns = 0;
  };
  std::map<std::string, Points> by_class;
  const int64_t sms = model.gpu().sms;
  for (const ShapeSample& shape : s.shapes) {
    const std::optional<std::string_view> cls = hw::model_fit_class(shape.payload);
    if (!cls) continue;
    Points& p = by_class[std::string(*cls)];
    p.launch_ns = double(model.launch_ns(shape.payload));
    const double body = double(model.model(shape.payload, sms).ns) - p.launch_ns;
    if (!(body > 0)) continue;
    p.w.push_back(body);
    p.y.push_back(shape.time_ns);
  }
  std::vector<ClassFit> out;
  for (auto& [name, p] : by_class) {
    ClassFit c;
    c.name = name;
    c.shapes = p.w.size();
    c.default_overhead_ns = p.launch_ns;
    // On the host the model's rates are the probed ones: eff is the share of them reached.
    c.default_efficiency = hw::is_host_device(model.gpu().name) ? 1.0 : default_efficiency(name, model.params());
    const size_t distinct = std::set<double>(p.w.begin(), p.w.end()).size();
    if (distinct < kMinFitPoints) {
      c.kept_because = fmt::format("{} shape{} of distinct size; a fit needs {}", distinct, distinct == 1 ? "" : "s",
                                   kMinFitPoints);
    } else {
      std::string why;
      c.fit = fit_relative(p.w, p.y, &why);
      if (!c.fit) c.kept_because = why;
      // The table's bound (hw/calibration.h): a scale beyond it is a device the model does not describe.
      if (c.fit && c.fit->slope > 1e9) {
        c.kept_because = fmt::format("the fitted scale {:.3g} is beyond the table's 1e9", c.fit->slope);
        c.fit.reset();
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<LinkClassFit> fit_links(const Samples& s) {
  // Per link class, the median time of each (kind, bus bytes): ops of one size are one point.
  std::map<std::string, std::map<std::pair<std::string, double>, std::vector<double>>> by_class;
  std::map<std::string, int64_t> ops;
  for (const CommSample& c : s.comms) {
    if (!(c.bus_bytes > 0)) continue;
    const std::string cls = c.across_nodes ? "ib" : "nvlink";
    by_class[cls][{c.kind, c.bus_bytes}].push_back(c.time_ns);
    ++ops[cls];
  }
  std::vector<LinkClassFit> out;
  for (auto& [name, sizes] : by_class) {
    LinkClassFit l;
    l.name = name;
    l.sizes = sizes.size();
    l.ops = ops[name];
    std::vector<double> w, y;
    for (auto& [key, times] : sizes) {
      w.push_back(key.second);
      y.push_back(median(times));
    }
    const size_t distinct = std::set<double>(w.begin(), w.end()).size();
    if (distinct < kMinFitPoints) {
      l.kept_because = fmt::format("{} message size{}; a fit needs {}", distinct, distinct == 1 ? "" : "s", kMinFitPoints);
    } else {
      std::string why;
      l.fit = fit_relative(w, y, &why);
      if (!l.fit) l.kept_because = why;
      if (l.fit && l.bytes_per_s() < 1.0) {
        l.kept_because = "a fitted bandwidth below 1 byte/s";
        l.fit.reset();
      }
    }
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace

Calibration calibrate(std::span<const TraceInput> traces, const CalibrateOptions& options) {
  Calibration c;
  for (const TraceInput& t : traces) c.inputs.push_back(t.path);
  const hw::GpuSpec* gpu = nullptr;
  if (!options.device.empty()) {
    if (hw::is_host_device(options.device)) {
      c.device = std::string(hw::kHostDevice);
    } else {
      gpu = hw::find_gpu(options.device);
      if (!gpu)
        throw io::InputError("--device", "", fmt::format("a GPU of the catalogue ({}) or host", hw::gpu_names()),
                             "'" + options.device + "'");
      c.device = std::string(gpu->name);
    }
    c.device_from_option = true;
  }
  SampleOptions sample_options = options.samples;
  std::optional<hw::CostModel> model;
  // The device is known before the samples only with --device; else it is the traces' GPU, read first.
  // The host's model is its probed description's (hw/host_cost.h).
  auto set_model = [&](const hw::GpuSpec& spec) {
    model.emplace(spec, hw::CostParams{}, nullptr, hw::is_host_device(spec.name) ? options.host : nullptr);
    // A kernel measured on fewer SMs (a simulated GEMM beside an all-to-all) is taken to the whole
    // device as the model scales it: the table holds whole-device times.
    sample_options.whole_device_time = [&m = *model](const ir::OpPayload& op, int32_t sms, double t) {
      const double part = double(m.model(op, sms).ns), whole = double(m.model(op, m.gpu().sms).ns);
      return part > 0 ? t * whole / part : t;
    };
  };
  if (c.device.empty() && !traces.empty()) {
    const auto it = traces[0].timeline->metadata.extra.find("gpu");
    if (it != traces[0].timeline->metadata.extra.end()) {
      c.device = hw::is_host_device(it->second) ? std::string(hw::kHostDevice) : it->second;
      gpu = hw::find_gpu(it->second);
    }
  }
  if (hw::is_host_device(c.device)) {
    if (options.host) {
      set_model(options.host->device);
      // An op measured while other ranks' ops ran got the part of a core the simulator would give it;
      // the table holds whole-core times (docs/host.md, "What the cores do together").
      sample_options.core_share = [h = options.host](double running) {
        return std::min(1.0, h->parallel_cores / std::max(1.0, running + h->background_threads));
      };
    }
  } else if (gpu) {
    set_model(*gpu);
  }
  c.samples = collect_samples(traces, sample_options);
  if (!model) {
    c.device_missing = c.device.empty()                  ? "the traces name no device (give --device)"
                       : hw::is_host_device(c.device) ? "no host description (run `tandem probe`, or give --host FILE)"
                                                      : fmt::format("no model of device '{}' in the GPU catalogue", c.device);
  } else {
    if (!hw::is_host_device(c.device)) c.device = std::string(model->gpu().name);
    c.classes = fit_classes(c.samples, *model);
  }
  if (options.shapes) {
    if (traces.size() != 1)
      throw io::InputError("--shapes", "", "one Kineto trace to line up with it", fmt::format("{} traces", traces.size()));
    if (c.samples.source != "kineto")
      throw io::InputError("--shapes", "", "a Kineto trace to calibrate (its kernels carry no shapes)",
                           fmt::format("a {} trace", c.samples.source));
    if (!model) throw io::InputError("--shapes", "", "a device to fit (give --device)", c.device_missing);
    KinetoLineup l = line_up_kineto(*traces[0].timeline, *options.shapes, options.shapes_path, *model);
    c.samples.shapes = std::move(l.shapes);
    c.classes = std::move(l.classes);
    c.lineup = std::move(l.lineup);
    c.shapes_path = options.shapes_path;
  }
  c.links = fit_links(c.samples);
  return c;
}

}  // namespace tandem::calib
