// Parsing, writing and lookup of calibration tables (see calibration.h). Format:
//   {"format": "tandem-calibration", "version": 2, "gpu": "H800", "source": "...",
//    "fits": {"gemm_fp8": {"overhead_us": 5, "time_scale": 1.2, ...}, ...},
//    "links": {"nvlink": {"bytes_per_s": 1.5e11, "latency_us": 3.3, ...}},
//    "points": [{"op": "gemm", "m": 4096, "n": 7168, "k": 2048, "a": "fp8_e4m3", "b": "fp8_e4m3",
//                "time_us": 117.3}, ...]}
#include "hw/calibration.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/core.h>

#include "hw/gpu_catalogue.h"
#include "io/json_document.h"

namespace tandem::hw {

namespace {

std::string key_num(double v) { return fmt::format("{:.6g}", v); }

// `total` rows in `groups` groups as equal as integers allow (the first total % groups one row more),
// so that the groups' rows add up to the total the point gives.
std::vector<int64_t> split_rows(int64_t total, int64_t groups) {
  std::vector<int64_t> rows(size_t(groups), total / groups);
  for (int64_t g = 0; g < total % groups; ++g) ++rows[size_t(g)];
  return rows;
}

struct KeyVisitor {
  CalibrationKey operator()(const ir::Gemm& g) const {
    int64_t rows = 0;
    for (int64_t r : g.group_rows) rows += r;
    std::string key = fmt::format("gemm a={} b={} out={} n={} groups={} split_k={}", ir::to_string(g.a),
                                  ir::to_string(g.b), ir::to_string(g.out), g.n, g.groups(), g.groups_split_k ? 1 : 0);
    if (g.groups_split_k) return {key + fmt::format(" m={}", g.m), double(rows)};
    key += fmt::format(" k={}", g.k);
    return {key, double(g.group_rows.empty() ? g.m : rows)};
  }
  CalibrationKey operator()(const ir::Attention& a) const {
    return {fmt::format("attention seq_len={} heads={} qk_head_dim={} v_head_dim={} causal={} backward={} dtype={}",
                        a.seq_len, a.heads, a.qk_head_dim, a.v_head_dim, a.causal ? 1 : 0, a.backward ? 1 : 0,
                        ir::to_string(a.dtype)),
            double(a.seqs)};
  }
  CalibrationKey operator()(const ir::Norm& n) const {
    return {fmt::format("norm cols={} backward={} dtype={}", n.cols, n.backward ? 1 : 0, ir::to_string(n.dtype)),
            double(n.rows)};
  }
  CalibrationKey operator()(const ir::Elementwise& e) const {
    const double per = e.elements > 0 ? double(e.read_bytes + e.write_bytes) / double(e.elements) : 0.0;
    return {fmt::format("elementwise kind={} bytes_per_element={}", ir::to_string(e.kind), key_num(per)),
            double(e.elements)};
  }
  CalibrationKey operator()(const ir::Router& r) const {
    return {fmt::format("router experts={} groups={} groups_per_token={} top_k={} backward={}", r.experts, r.groups,
                        r.groups_per_token, r.top_k, r.backward ? 1 : 0),
            double(r.tokens)};
  }
  CalibrationKey operator()(const ir::Quantize& q) const {
    return {fmt::format("quantize cols={} from={} to={} granularity={} transpose={}", q.cols, ir::to_string(q.from),
                        ir::to_string(q.to), ir::to_string(q.granularity), q.transpose ? 1 : 0),
            double(q.rows)};
  }
  CalibrationKey operator()(const ir::Permute& p) const {
    return {fmt::format("permute top_k={} hidden={} dtype={} unpermute={}", p.top_k, p.hidden, ir::to_string(p.dtype),
                        p.unpermute ? 1 : 0),
            double(p.tokens)};
  }
  CalibrationKey operator()(const ir::Optimizer& o) const {
    return {fmt::format("optimizer master={} moments={} weights={}", ir::to_string(o.master),
                        ir::to_string(o.moments), ir::to_string(o.weights)),
            double(o.params)};
  }
  CalibrationKey operator()(const ir::Comm&) const { return {}; }
};

struct ResizeVisitor {
  double x;
  int64_t n() const { return std::max<int64_t>(0, int64_t(std::llround(x))); }
  ir::OpPayload operator()(ir::Gemm g) const {
    if (g.group_rows.empty()) {
      g.m = n();
      return g;
    }
    int64_t rows = 0;
    for (int64_t r : g.group_rows) rows += r;
    const double s = rows > 0 ? x / double(rows) : 0.0;
    int64_t total = 0;
    for (int64_t& r : g.group_rows) total += (r = int64_t(std::llround(double(r) * s)));
    if (!g.groups_split_k) g.m = total;
    return g;
  }
  ir::OpPayload operator()(ir::Attention a) const { a.seqs = n(); return a; }
  ir::OpPayload operator()(ir::Norm v) const { v.rows = n(); return v; }
  ir::OpPayload operator()(ir::Elementwise e) const {
    const double s = e.elements > 0 ? x / double(e.elements) : 0.0;
    e.read_bytes = int64_t(std::llround(double(e.read_bytes) * s));
    e.write_bytes = int64_t(std::llround(double(e.write_bytes) * s));
    e.elements = n();
    return e;
  }
  ir::OpPayload operator()(ir::Router r) const { r.tokens = n(); return r; }
  ir::OpPayload operator()(ir::Quantize q) const { q.rows = n(); return q; }
  ir::OpPayload operator()(ir::Permute p) const { p.tokens = n(); return p; }
  ir::OpPayload operator()(ir::Optimizer o) const { o.params = n(); return o; }
  ir::OpPayload operator()(ir::Comm c) const { return c; }
};

// Reads one point object, remembering which keys were used so unknown ones can be reported.
class PointReader {
 public:
  PointReader(const nlohmann::json& j, std::string where, const std::string& source)
      : j_(j), where_(std::move(where)), source_(source) {}

  [[noreturn]] void fail(const std::string& field, const std::string& expected, const std::string& found) const {
    throw io::InputError(source_, where_ + (field.empty() ? "" : "." + field), expected, found);
  }
  static std::string show(const nlohmann::json& v) { return io::json_excerpt(v); }
  const nlohmann::json* find(const std::string& name) {
    used_.insert(name);
    auto it = j_.find(name);
    return it == j_.end() ? nullptr : &*it;
  }
  int64_t integer(const std::string& name, std::optional<int64_t> fallback = std::nullopt, int64_t min = 1,
                  double max = 9.0e15) {
    const nlohmann::json* v = find(name);
    if (!v) {
      if (fallback) return *fallback;
      fail(name, "an integer", "nothing (missing field)");
    }
    if (!v->is_number_integer() && !(v->is_number_float() && std::floor(v->get<double>()) == v->get<double>()))
      fail(name, "an integer", show(*v));
    const double d = v->get<double>();
    if (d < double(min) || d > max)
      fail(name, fmt::format("an integer in [{}, {:.0f}]", min, max), show(*v));
    return int64_t(d);
  }
  double positive(const std::string& name) {
    const nlohmann::json* v = find(name);
    if (!v) fail(name, "a positive number", "nothing (missing field)");
    if (!v->is_number() || !(v->get<double>() > 0.0) || !std::isfinite(v->get<double>()))
      fail(name, "a positive number", show(*v));
    return v->get<double>();
  }
  bool boolean(const std::string& name, bool fallback) {
    const nlohmann::json* v = find(name);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(name, "true or false", show(*v));
    return v->get<bool>();
  }
  ir::DType dtype(const std::string& name, ir::DType fallback) {
    const nlohmann::json* v = find(name);
    if (!v) return fallback;
    if (v->is_string())
      if (auto t = ir::parse_dtype(v->get<std::string>())) return *t;
    fail(name, "a dtype (fp32, bf16, fp8_e4m3, fp8_e5m2)", show(*v));
  }
  std::string text(const std::string& name) {
    const nlohmann::json* v = find(name);
    if (!v) fail(name, "a string", "nothing (missing field)");
    if (!v->is_string()) fail(name, "a string", show(*v));
    return v->get<std::string>();
  }
  void check_unknown() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!used_.count(it.key())) fail(it.key(), "no such field for this op", "unknown field '" + it.key() + "'");
  }

 private:
  const nlohmann::json& j_;
  std::string where_;
  const std::string& source_;
  std::set<std::string> used_;
};

ir::OpPayload read_point(PointReader& r) {
  const std::string op = r.text("op");
  if (op == "gemm") {
    ir::Gemm g;
    g.a = r.dtype("a", ir::DType::BF16);
    g.b = r.dtype("b", g.a);
    g.out = r.dtype("out", ir::DType::BF16);
    g.n = r.integer("n");
    // A group per routed expert: bounded like the model's routed_experts (one row of sizes is built).
    const int64_t groups = r.integer("groups", 1, 1, double(int64_t(1) << 20));
    g.groups_split_k = r.boolean("split_k", false);
    if (g.groups_split_k) {
      g.m = r.integer("m");
      const int64_t rows = r.integer("k");   // total k (tokens) over the groups
      g.group_rows = split_rows(rows, groups);
      g.k = rows / groups;
    } else {
      g.k = r.integer("k");
      g.m = r.integer("m");
      if (groups > 1) g.group_rows = split_rows(g.m, groups);
    }
    return g;
  }
  if (op == "attention") {
    ir::Attention a;
    a.seqs = r.integer("seqs", 1);
    a.seq_len = r.integer("seq_len");
    a.heads = r.integer("heads");
    a.qk_head_dim = r.integer("qk_head_dim", 192);
    a.v_head_dim = r.integer("v_head_dim", 128);
    a.causal = r.boolean("causal", true);
    a.backward = r.boolean("backward", false);
    a.dtype = r.dtype("dtype", ir::DType::BF16);
    return a;
  }
  if (op == "norm") {
    ir::Norm n;
    n.rows = r.integer("rows");
    n.cols = r.integer("cols");
    n.backward = r.boolean("backward", false);
    n.dtype = r.dtype("dtype", ir::DType::BF16);
    return n;
  }
  if (op == "elementwise") {
    ir::Elementwise e;
    const std::string kind = r.text("kind");
    bool found = false;
    for (auto k : {ir::ElementwiseKind::SwiGLU, ir::ElementwiseKind::Rope, ir::ElementwiseKind::Add,
                   ir::ElementwiseKind::Scale, ir::ElementwiseKind::Embedding, ir::ElementwiseKind::CrossEntropy,
                   ir::ElementwiseKind::Copy})
      if (ir::to_string(k) == kind) {
        e.kind = k;
        found = true;
      }
    if (!found) r.fail("kind", "swiglu, rope, add, scale, embedding, cross_entropy or copy", "'" + kind + "'");
    e.elements = r.integer("elements");
    e.read_bytes = r.integer("read_bytes", std::nullopt, 0);
    e.write_bytes = r.integer("write_bytes", std::nullopt, 0);
    return e;
  }
  if (op == "router") {
    ir::Router x;
    x.tokens = r.integer("tokens");
    x.experts = r.integer("experts");
    x.groups = r.integer("groups", 1);
    x.groups_per_token = r.integer("groups_per_token", 1);
    x.top_k = r.integer("top_k");
    x.backward = r.boolean("backward", false);
    return x;
  }
  if (op == "quantize") {
    ir::Quantize q;
    q.rows = r.integer("rows");
    q.cols = r.integer("cols");
    q.from = r.dtype("from", ir::DType::BF16);
    q.to = r.dtype("to", ir::DType::FP8E4M3);
    const nlohmann::json* g = r.find("granularity");
    if (g) {
      bool found = false;
      for (auto k : {ir::ScaleGranularity::None, ir::ScaleGranularity::Tile1x128, ir::ScaleGranularity::Block128x128,
                     ir::ScaleGranularity::Tensor})
        if (g->is_string() && ir::to_string(k) == g->get<std::string>()) {
          q.granularity = k;
          found = true;
        }
      if (!found) r.fail("granularity", "none, tile_1x128, block_128x128 or tensor", PointReader::show(*g));
    }
    q.transpose = r.boolean("transpose", false);
    return q;
  }
  if (op == "permute") {
    ir::Permute p;
    p.tokens = r.integer("tokens");
    p.top_k = r.integer("top_k");
    p.hidden = r.integer("hidden");
    p.dtype = r.dtype("dtype", ir::DType::BF16);
    p.unpermute = r.boolean("unpermute", false);
    return p;
  }
  if (op == "optimizer") {
    ir::Optimizer o;
    o.params = r.integer("params");
    o.master = r.dtype("master", ir::DType::FP32);
    o.moments = r.dtype("moments", ir::DType::BF16);
    o.weights = r.dtype("weights", ir::DType::BF16);
    return o;
  }
  r.fail("op", "gemm, attention, norm, elementwise, router, quantize, permute or optimizer", "'" + op + "'");
}

// The point object of a payload: the fields read_point reads, with the values that give the same key
// and size variable back.
struct PointWriter {
  double time_us;
  using J = nlohmann::ordered_json;

  J operator()(const ir::Gemm& g) const {
    int64_t rows = 0;
    for (int64_t r : g.group_rows) rows += r;
    J j = {{"op", "gemm"}, {"a", ir::to_string(g.a)}, {"b", ir::to_string(g.b)}, {"out", ir::to_string(g.out)},
           {"n", g.n}, {"groups", g.groups()}};
    if (g.groups_split_k) {
      j["split_k"] = true;
      j["m"] = g.m;
      j["k"] = rows;
    } else {
      j["m"] = g.group_rows.empty() ? g.m : rows;
      j["k"] = g.k;
    }
    j["time_us"] = time_us;
    return j;
  }
  J operator()(const ir::Attention& a) const {
    return {{"op", "attention"}, {"seqs", a.seqs},       {"seq_len", a.seq_len},
            {"heads", a.heads},  {"qk_head_dim", a.qk_head_dim}, {"v_head_dim", a.v_head_dim},
            {"causal", a.causal}, {"backward", a.backward}, {"dtype", ir::to_string(a.dtype)},
            {"time_us", time_us}};
  }
  J operator()(const ir::Norm& n) const {
    return {{"op", "norm"}, {"rows", n.rows}, {"cols", n.cols}, {"backward", n.backward},
            {"dtype", ir::to_string(n.dtype)}, {"time_us", time_us}};
  }
  J operator()(const ir::Elementwise& e) const {
    return {{"op", "elementwise"}, {"kind", ir::to_string(e.kind)}, {"elements", e.elements},
            {"read_bytes", e.read_bytes}, {"write_bytes", e.write_bytes}, {"time_us", time_us}};
  }
  J operator()(const ir::Router& r) const {
    return {{"op", "router"}, {"tokens", r.tokens}, {"experts", r.experts}, {"groups", r.groups},
            {"groups_per_token", r.groups_per_token}, {"top_k", r.top_k}, {"backward", r.backward},
            {"time_us", time_us}};
  }
  J operator()(const ir::Quantize& q) const {
    return {{"op", "quantize"}, {"rows", q.rows}, {"cols", q.cols}, {"from", ir::to_string(q.from)},
            {"to", ir::to_string(q.to)}, {"granularity", ir::to_string(q.granularity)},
            {"transpose", q.transpose}, {"time_us", time_us}};
  }
  J operator()(const ir::Permute& p) const {
    return {{"op", "permute"}, {"tokens", p.tokens}, {"top_k", p.top_k}, {"hidden", p.hidden},
            {"dtype", ir::to_string(p.dtype)}, {"unpermute", p.unpermute}, {"time_us", time_us}};
  }
  J operator()(const ir::Optimizer& o) const {
    return {{"op", "optimizer"}, {"params", o.params}, {"master", ir::to_string(o.master)},
            {"moments", ir::to_string(o.moments)}, {"weights", ir::to_string(o.weights)}, {"time_us", time_us}};
  }
  J operator()(const ir::Comm&) const { return nullptr; }
};

// A fit or link object: the numbers it carries (checked) and the residuals printed beside them.
class SectionReader {
 public:
  SectionReader(const nlohmann::json& j, std::string where, const std::string& source)
      : j_(j), where_(std::move(where)), source_(source) {
    if (!j.is_object()) throw io::InputError(source_, where_, "an object", io::json_excerpt(j));
  }
  // A finite number >= min (> min when `strict`).
  double number(const std::string& name, double min, bool strict) {
    used_.insert(name);
    auto it = j_.find(name);
    const std::string want = fmt::format("a number {} {}", strict ? ">" : ">=", min);
    if (it == j_.end()) throw io::InputError(source_, where_ + "." + name, want, "nothing (missing field)");
    if (!it->is_number() || !std::isfinite(it->get<double>()) || (strict ? it->get<double>() <= min : it->get<double>() < min))
      throw io::InputError(source_, where_ + "." + name, want, io::json_excerpt(*it));
    return it->get<double>();
  }
  // Fields written for the reader of the file (point counts, residuals), checked only for being numbers.
  void informational(std::initializer_list<const char*> names) {
    for (const char* name : names) {
      auto it = j_.find(name);
      if (it == j_.end()) continue;
      number(name, 0.0, false);
    }
  }
  void check_unknown(const std::string& allowed) const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!used_.count(it.key()))
        throw io::InputError(source_, where_ + "." + it.key(), "one of " + allowed, "unknown field '" + it.key() + "'");
  }

 private:
  const nlohmann::json& j_;
  std::string where_;
  const std::string& source_;
  std::set<std::string> used_;
};

}  // namespace

nlohmann::ordered_json calibration_point(const ir::OpPayload& op, double time_us) {
  return std::visit(PointWriter{time_us}, op);
}

CalibrationKey calibration_key(const ir::OpPayload& op) { return std::visit(KeyVisitor{}, op); }

ir::OpPayload with_calibration_size(const ir::OpPayload& op, double x) { return std::visit(ResizeVisitor{x}, op); }

CalibrationTable CalibrationTable::parse(const nlohmann::json& doc, const std::string& source) {
  auto fail = [&](const std::string& path, const std::string& expected, const std::string& found) {
    throw io::InputError(source, path, expected, found);
  };
  if (!doc.is_object()) fail("(top level)", "an object", PointReader::show(doc));
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (it.key() != "format" && it.key() != "version" && it.key() != "gpu" && it.key() != "source" &&
        it.key() != "points" && it.key() != "fits" && it.key() != "links")
      fail(it.key(), "one of format, version, gpu, source, fits, links, points", "unknown field '" + it.key() + "'");
  if (!doc.contains("format") || doc["format"] != "tandem-calibration")
    fail("format", "\"tandem-calibration\"", doc.contains("format") ? PointReader::show(doc["format"]) : "nothing");
  if (!doc.contains("version") || !(doc["version"] == 1 || doc["version"] == kCalibrationVersion))
    fail("version", "1 or 2", doc.contains("version") ? PointReader::show(doc["version"]) : "nothing");
  if (doc["version"] == 1)
    for (const char* section : {"fits", "links"})
      if (doc.contains(section)) fail(section, "no such field in a version 1 table", "a field of version 2");
  CalibrationTable t;
  if (doc.contains("fits")) {
    const nlohmann::json& fits = doc["fits"];
    if (!fits.is_object()) fail("fits", "an object of fits by op class", PointReader::show(fits));
    for (auto it = fits.begin(); it != fits.end(); ++it) {
      const std::string where = "fits." + it.key();
      if (!is_model_fit_class(it.key()))
        fail(where, std::string("an op class (") + std::string(model_fit_class_names()) + ")", "'" + it.key() + "'");
      SectionReader r(it.value(), where, source);
      ModelFit f;
      f.overhead_ns = r.number("overhead_us", 0.0, false) * 1e3;
      f.time_scale = r.number("time_scale", 0.0, true);
      // A kernel a billion times slower than the model is a unit mistake, and its time would not fit the clock.
      if (f.time_scale > 1e9) fail(where + ".time_scale", "a number > 0 and at most 1e9", PointReader::show(it.value()["time_scale"]));
      r.informational({"points", "rms_relative_error", "max_relative_error"});
      r.check_unknown("overhead_us, time_scale, points, rms_relative_error, max_relative_error");
      if (f.overhead_ns > 1e12) fail(where + ".overhead_us", "at most 1e9 (1000 s)", PointReader::show(it.value()["overhead_us"]));
      t.fits_.emplace(it.key(), f);
    }
  }
  if (doc.contains("links")) {
    const nlohmann::json& links = doc["links"];
    if (!links.is_object()) fail("links", "an object of fitted links by class", PointReader::show(links));
    for (auto it = links.begin(); it != links.end(); ++it) {
      const std::string where = "links." + it.key();
      if (it.key() != "nvlink" && it.key() != "ib") fail(where, "a link class (nvlink, ib)", "'" + it.key() + "'");
      SectionReader r(it.value(), where, source);
      LinkFit f;
      f.bytes_per_s = r.number("bytes_per_s", 0.0, true);
      // Below 1 byte/s a transfer would not end within the simulator's clock.
      if (f.bytes_per_s < 1.0) fail(where + ".bytes_per_s", "a number >= 1 (bytes per second)", PointReader::show(it.value()["bytes_per_s"]));
      f.latency_ns = r.number("latency_us", 0.0, false) * 1e3;
      r.informational({"points", "rms_relative_error", "max_relative_error"});
      r.check_unknown("bytes_per_s, latency_us, points, rms_relative_error, max_relative_error");
      if (f.latency_ns > 1e12) fail(where + ".latency_us", "at most 1e9 (1000 s)", PointReader::show(it.value()["latency_us"]));
      t.links_.emplace(it.key(), f);
    }
  }
  if (doc.contains("gpu")) {
    if (!doc["gpu"].is_string()) fail("gpu", "a string", PointReader::show(doc["gpu"]));
    t.gpu_ = doc["gpu"].get<std::string>();
  }
  if (!doc.contains("points") || !doc["points"].is_array())
    fail("points", "an array of measurements", doc.contains("points") ? PointReader::show(doc["points"]) : "nothing");
  const nlohmann::json& points = doc["points"];
  for (size_t i = 0; i < points.size(); ++i) {
    const std::string where = "points[" + std::to_string(i) + "]";
    if (!points[i].is_object()) fail(where, "an object", PointReader::show(points[i]));
    PointReader r(points[i], where, source);
    const ir::OpPayload op = read_point(r);
    const double time_us = r.positive("time_us");
    // A kernel measured at more than 1000 s is a unit mistake, and its nanoseconds would not fit the clock.
    if (time_us > 1e9) fail(where + ".time_us", "a positive number of at most 1e9 (1000 s)", PointReader::show(points[i]["time_us"]));
    const double time_ns = time_us * 1e3;
    r.check_unknown();
    const CalibrationKey k = calibration_key(op);
    auto& curve = t.curves_[k.key];
    auto pos = std::lower_bound(curve.begin(), curve.end(), k.x, [](const Point& p, double x) { return p.x < x; });
    if (pos != curve.end() && pos->x == k.x) {
      if (pos->time_ns != time_ns)
        fail(where, "one time per shape", fmt::format("a second time {} us for the same shape ({} = {})",
                                                      time_ns / 1e3, k.key, k.x));
      continue;
    }
    curve.insert(pos, Point{k.x, time_ns});
  }
  return t;
}

CalibrationTable CalibrationTable::parse_text(const std::string& text, const std::string& source) {
  return parse(io::parse_json_document(text, source, "a calibration table"), source);
}

CalibrationTable CalibrationTable::load(const std::string& path) {
  constexpr uint64_t kMaxBytes = uint64_t(64) << 20;
  return parse(io::read_json_document(path, kMaxBytes, "a calibration table (JSON)"), path);
}

const ModelFit* CalibrationTable::fit_for(const ir::OpPayload& op) const {
  for (const std::optional<std::string_view> c : {kernel_fit_class(op), model_fit_class(op)}) {
    if (!c) continue;
    if (const auto it = fits_.find(*c); it != fits_.end()) return &it->second;
  }
  return nullptr;
}

void CalibrationTable::apply_links(ir::ClusterConfig& cluster, NetworkParams& network) const {
  if (auto it = links_.find("nvlink"); it != links_.end()) {
    network.nvlink_efficiency = it->second.bytes_per_s / (nvlink_bytes_per_s(cluster) / 2.0);
    cluster.nvlink_latency_ns = int64_t(std::llround(it->second.latency_ns));
  }
  if (auto it = links_.find("ib"); it != links_.end()) {
    network.ib_efficiency = it->second.bytes_per_s / cluster.nic_bytes_per_s;
    const int64_t cross_extra = cluster.ib_cross_leaf_latency_ns - cluster.ib_latency_ns;
    cluster.ib_latency_ns = int64_t(std::llround(it->second.latency_ns));
    cluster.ib_cross_leaf_latency_ns = cluster.ib_latency_ns + cross_extra;
  }
}

size_t CalibrationTable::points() const {
  size_t n = 0;
  for (const auto& [k, c] : curves_) n += c.size();
  return n;
}

CalibrationTable::Lookup CalibrationTable::lookup(const ir::OpPayload& op) const {
  const CalibrationKey k = calibration_key(op);
  if (k.key.empty()) return {};
  auto it = curves_.find(k.key);
  if (it == curves_.end()) return {};
  const std::vector<Point>& c = it->second;
  if (k.x < c.front().x) return {Hit::Outside, c.front().time_ns, c.front().x};
  if (k.x > c.back().x) return {Hit::Outside, c.back().time_ns, c.back().x};
  auto hi = std::lower_bound(c.begin(), c.end(), k.x, [](const Point& p, double x) { return p.x < x; });
  if (hi->x == k.x) return {Hit::Inside, hi->time_ns, 0.0};
  auto lo = hi - 1;
  const double f = (k.x - lo->x) / (hi->x - lo->x);
  return {Hit::Inside, lo->time_ns + f * (hi->time_ns - lo->time_ns), 0.0};
}

}  // namespace tandem::hw
