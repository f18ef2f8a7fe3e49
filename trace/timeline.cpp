// Timeline string interning, op-kind classes, trace sources and the content comparison used by the
// round-trip tests.
#include "trace/timeline.h"

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>

#include <fmt/core.h>

namespace tandem::trace {

OpClass op_class(std::string_view k) {
  static constexpr std::array<std::string_view, 8> comm = {
      op_kind::kAllToAll, op_kind::kNotify, op_kind::kSend,       op_kind::kRecv,     op_kind::kAllReduce,
      op_kind::kReduceScatter, op_kind::kAllGather, "send_recv"};
  for (auto c : comm)
    if (k == c) return OpClass::Comm;
  if (k == op_kind::kOptimizer) return OpClass::Optimizer;
  if (k == op_kind::kMemcpy || k == op_kind::kMemset) return OpClass::Copy;
  // Host-side categories of PyTorch-profiler traces, imported as op kinds (docs/timeline.md).
  static constexpr std::array<std::string_view, 6> host = {
      "cpu_op", "python_function", "cuda_runtime", "cuda_driver", "cpu_instant_event", "host"};
  for (auto h : host)
    if (k == h) return OpClass::Host;
  // Ranges that label or enclose kernels: user annotations, and the profiler's own span ("Trace" in
  // the "PyTorch Profiler" process, which covers the whole recording).
  if (k == "user_annotation" || k == "gpu_user_annotation" || k == "trace") return OpClass::Annotation;
  return OpClass::Compute;
}

std::string_view to_string(TrackRole r) {
  switch (r) {
    case TrackRole::Compute: return "compute";
    case TrackRole::Comm: return "communication";
    case TrackRole::Side: return "side";
    case TrackRole::Host: return "host";
  }
  return "?";
}

std::string_view to_string(OpClass c) {
  switch (c) {
    case OpClass::Compute: return "compute";
    case OpClass::Comm: return "communication";
    case OpClass::Optimizer: return "optimizer";
    case OpClass::Copy: return "copy";
    case OpClass::Host: return "host";
    case OpClass::Annotation: return "annotation";
  }
  return "?";
}

bool valid_phase(char p) { return p == 0 || p == 'F' || p == 'B' || p == 'W'; }

std::string_view to_string(TraceSource s) {
  switch (s) {
    case TraceSource::Unknown: return "";
    case TraceSource::Sim: return "sim";
    case TraceSource::Cpu: return "cpu";
    case TraceSource::Cuda: return "cuda";
    case TraceSource::Kineto: return "kineto";
  }
  return "";
}

bool parse_trace_source(std::string_view text, TraceSource& out) {
  for (auto s : {TraceSource::Sim, TraceSource::Cpu, TraceSource::Cuda, TraceSource::Kineto})
    if (text == to_string(s)) {
      out = s;
      return true;
    }
  return false;
}

Timeline::Timeline() { intern(""); }

uint32_t Timeline::intern(std::string_view s) {
  if (auto it = index_.find(s); it != index_.end()) return it->second;
  const auto id = static_cast<uint32_t>(strings_.size());
  strings_.emplace_back(s);
  index_.emplace(strings_.back(), id);
  return id;
}

uint32_t Timeline::find_string(std::string_view s) const {
  auto it = index_.find(s);
  return it == index_.end() ? std::numeric_limits<uint32_t>::max() : it->second;
}

Event& Timeline::add_event(std::string_view name, int32_t pid, int32_t tid, int64_t start_ns,
                           int64_t dur_ns, std::string_view op) {
  Event e;
  e.name = intern(name);
  e.op = intern(op);
  e.pid = pid;
  e.tid = tid;
  e.start_ns = start_ns;
  e.dur_ns = dur_ns;
  events.push_back(e);
  return events.back();
}

void Timeline::add_flow(int64_t id, uint32_t from_event, uint32_t to_event) {
  flows.push_back(Flow{id, from_event, to_event});
}

namespace {
Arg& new_arg(Timeline& tl, Event& e, std::string_view key) {
  if (e.args_count == 0) e.args_begin = tl.args.size();
  if (e.args_begin + e.args_count != tl.args.size())
    throw std::logic_error(fmt::format("Timeline::add_arg: arg \"{}\" added to an event that is not the last one", key));
  e.args_count += 1;
  Arg& a = tl.args.emplace_back();
  a.key = tl.intern(key);
  return a;
}
}  // namespace

void Timeline::add_arg(Event& e, std::string_view key, int64_t value) {
  Arg& a = new_arg(*this, e, key);
  a.type = ArgType::Int;
  a.int_value = value;
}

void Timeline::add_arg(Event& e, std::string_view key, double value) {
  Arg& a = new_arg(*this, e, key);
  a.type = ArgType::Number;
  a.number = value;
}

void Timeline::add_arg(Event& e, std::string_view key, bool value) {
  Arg& a = new_arg(*this, e, key);
  a.type = ArgType::Bool;
  a.int_value = value ? 1 : 0;
}

void Timeline::add_arg(Event& e, std::string_view key, std::string_view text) {
  const uint32_t id = intern(text);
  Arg& a = new_arg(*this, e, key);
  a.type = ArgType::Text;
  a.int_value = id;
}

void Timeline::add_arg(Event& e, std::string_view key, std::span<const double> numbers) {
  Arg& a = new_arg(*this, e, key);
  a.type = ArgType::Numbers;
  a.int_value = int64_t(arg_numbers.size());
  a.count = uint32_t(numbers.size());
  arg_numbers.insert(arg_numbers.end(), numbers.begin(), numbers.end());
}

const Arg* Timeline::find_arg(const Event& e, std::string_view key) const {
  const uint32_t id = find_string(key);
  if (id == std::numeric_limits<uint32_t>::max()) return nullptr;
  for (const Arg& a : args_of(e))
    if (a.key == id) return &a;
  return nullptr;
}

int64_t Timeline::int_arg(const Event& e, std::string_view key, int64_t fallback) const {
  const Arg* a = find_arg(e, key);
  return a && (a->type == ArgType::Int || a->type == ArgType::Bool) ? a->int_value : fallback;
}

std::pair<int64_t, int64_t> Timeline::time_span() const {
  if (events.empty()) return {0, 0};
  int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
  for (const auto& e : events) {
    lo = std::min(lo, e.start_ns);
    hi = std::max(hi, e.end_ns());
  }
  return {lo, hi};
}

namespace {
bool differ(std::string* why, std::string msg) {
  if (why) *why = std::move(msg);
  return false;
}
}  // namespace

bool same_content(const Timeline& a, const Timeline& b, std::string* why) {
  if (a.events.size() != b.events.size())
    return differ(why, fmt::format("event count {} vs {}", a.events.size(), b.events.size()));
  for (size_t i = 0; i < a.events.size(); ++i) {
    const Event& x = a.events[i];
    const Event& y = b.events[i];
    auto fail = [&](const char* field) {
      return differ(why, fmt::format("event #{} (\"{}\"): field {} differs", i, a.name_of(x), field));
    };
    if (a.name_of(x) != b.name_of(y)) return fail("name");
    if (a.op_of(x) != b.op_of(y)) return fail("op");
    if (x.start_ns != y.start_ns) return fail("start_ns");
    if (x.dur_ns != y.dur_ns) return fail("dur_ns");
    if (x.pid != y.pid || x.tid != y.tid) return fail("pid/tid");
    if (x.id != y.id) return fail("id");
    if (x.stage != y.stage || x.layer != y.layer || x.mb != y.mb) return fail("stage/layer/mb");
    if (x.phase != y.phase) return fail("phase");
    if (x.sms != y.sms) return fail("sms");
    if (x.flops != y.flops || x.bytes != y.bytes) return fail("flops/bytes");
    const auto xa = a.args_of(x), ya = b.args_of(y);
    if (xa.size() != ya.size()) return fail("args (count)");
    for (size_t k = 0; k < xa.size(); ++k) {
      const Arg& p = xa[k];
      const Arg& q = ya[k];
      if (a.str(p.key) != b.str(q.key) || p.type != q.type) return fail("args (name or type)");
      bool same = true;
      switch (p.type) {
        case ArgType::Int:
        case ArgType::Bool: same = p.int_value == q.int_value; break;
        case ArgType::Number: same = p.number == q.number; break;
        case ArgType::Text: same = a.str(uint32_t(p.int_value)) == b.str(uint32_t(q.int_value)); break;
        case ArgType::Numbers: {
          const auto u = a.numbers_of(p), v = b.numbers_of(q);
          same = u.size() == v.size() && std::equal(u.begin(), u.end(), v.begin());
          break;
        }
      }
      if (!same) return differ(why, fmt::format("event #{} (\"{}\"): arg {} differs", i, a.name_of(x), a.str(p.key)));
    }
  }
  if (a.flows.size() != b.flows.size())
    return differ(why, fmt::format("flow count {} vs {}", a.flows.size(), b.flows.size()));
  for (size_t i = 0; i < a.flows.size(); ++i) {
    const Flow& x = a.flows[i];
    const Flow& y = b.flows[i];
    if (x.id != y.id || x.from_event != y.from_event || x.to_event != y.to_event)
      return differ(why, fmt::format("flow #{} differs ({} {}->{} vs {} {}->{})", i, x.id,
                                     x.from_event, x.to_event, y.id, y.from_event, y.to_event));
  }
  if (a.process_names != b.process_names) return differ(why, "process names differ");
  if (a.thread_names != b.thread_names) return differ(why, "thread names differ");
  if (a.track_roles != b.track_roles) return differ(why, "track roles differ");
  if (a.metadata.scenario != b.metadata.scenario || a.metadata.source != b.metadata.source ||
      a.metadata.version != b.metadata.version)
    return differ(why, "metadata scenario/source/version differ");
  if (a.metadata.extra != b.metadata.extra) return differ(why, "metadata extra keys differ");
  return true;
}

}  // namespace tandem::trace
