// Trace reader: walks the Chrome-trace JSON with JsonScanner, one event at a time, into a Timeline.
// Keeps complete events (X, and B/E pairs), process/thread names (M) and flows (s/f, bound to the
// slices they point into); other phases are counted and skipped. Kineto kernels take their kind,
// class, stream role and phase from a Kineto map (trace/kineto_map.h).
#include "trace/trace_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <span>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/core.h>

#include "io/input_error.h"
#include "io/input_file.h"
#include "trace/kineto_map.h"

namespace tandem::trace {
namespace {

constexpr int32_t kFirstStringId = 1'000'000'000;   // ids given to pids/tids written as strings

struct IdValue {
  bool present = false;
  bool is_string = false;
  int32_t num = 0;
  std::string text;
};

// The fields of one event as read, before it is turned into Timeline entries.
struct RawEvent {
  size_t offset = 0;
  std::string ph, name, cat, bp, flow_id;
  bool has_ph = false, has_name = false, has_cat = false, has_ts = false, has_dur = false,
       has_flow_id = false, flow_id_is_number = false;
  IdValue pid, tid;
  int64_t ts_ns = 0, dur_ns = 0;
  size_t dur_offset = 0;
  // args
  std::string op, arg_name;
  bool has_op = false, has_arg_name = false;
  int64_t id = -1, correlation = -1, external_id = -1;
  int32_t stage = -1, layer = -1, mb = -1, sms = -1;
  char phase = 0;
  double flops = 0.0, bytes = 0.0;
  // Further args as read (name, the value's JSON text in the mapped input); the first
  // `extra_count` entries are this event's (the strings keep their capacity from event to event).
  std::vector<std::pair<std::string, std::string_view>> extra;
  size_t extra_count = 0;

  void reset(size_t at) {
    offset = at;
    has_ph = has_name = has_cat = has_ts = has_dur = has_flow_id = flow_id_is_number = false;
    has_op = has_arg_name = false;
    ph.clear();
    name.clear();
    cat.clear();
    bp.clear();
    pid = IdValue{};
    tid = IdValue{};
    ts_ns = dur_ns = 0;
    id = correlation = external_id = -1;
    stage = layer = mb = sms = -1;
    phase = 0;
    flops = bytes = 0.0;
    extra_count = 0;
  }
};

struct FlowPoint {
  bool set = false;
  int32_t pid = 0, tid = 0;
  int64_t ts_ns = 0;
  bool next_slice = false;   // "f" without "bp":"e": binds to the next slice starting at or after ts
};

struct PendingFlow {
  int64_t id = 0;
  FlowPoint start, finish;
};

// What the map says of one (category, name) of a Kineto event.
struct KindEntry {
  uint32_t kind = 0;                // string id of the op kind
  uint32_t cls = 0;                 // string id of the kernel class; 0: none (not a device event)
  bool device = false;              // a kernel, memcpy or memset: its stream takes the map's role
};

// A user_annotation range that gives a phase (map "phases").
struct PhaseRange {
  int32_t pid = 0;
  int64_t start_ns = 0, end_ns = 0;
  char phase = 0;
};

class Reader {
 public:
  // `consumed` (may be empty) hears every so often how many bytes of the text are read.
  Reader(std::string_view text, std::string source, const KinetoMap& map, std::function<void(size_t)> consumed = {})
      : sc_(text, std::move(source)), map_(map), consumed_(std::move(consumed)) {}

  Timeline run(ReadStats* stats, size_t bytes) {
    stats_.bytes = bytes;
    switch (sc_.peek()) {
      case JsonScanner::Kind::Object: read_top_object(); break;
      case JsonScanner::Kind::Array: read_events(); break;
      case JsonScanner::Kind::End:
        sc_.fail_at(0, "the file is empty, expected a trace ({\"traceEvents\": [...]})");
      default:
        sc_.fail(fmt::format("expected a trace: an object {{\"traceEvents\": [...]}} or an array of events, "
                             "found {}", sc_.describe_next()));
    }
    sc_.expect_end();
    for (auto& [track, stack] : open_) stats_.unmatched_begin_end += stack.size();
    resolve_flows();
    assign_phases();
    if (!has_source_ && kineto_hint_) tl_.metadata.source = TraceSource::Kineto;
    if (stats) *stats = stats_;
    return std::move(tl_);
  }

 private:
  [[noreturn]] void fail_field(std::string_view field, const std::string& what) {
    sc_.fail(fmt::format("event #{}: field \"{}\": {}", event_index_, field, what));
  }

  void expect_kind(std::string_view field, JsonScanner::Kind kind, const char* expected) {
    if (sc_.peek() != kind) fail_field(field, fmt::format("expected {}, found {}", expected, sc_.describe_next()));
  }

  int64_t read_int(std::string_view field, int64_t lo, int64_t hi) {
    expect_kind(field, JsonScanner::Kind::Number, "an integer");
    const size_t at = sc_.offset();
    const auto num = sc_.read_number();
    int64_t v = 0;
    const char* why = "";
    if (!number_to_int64(num, v, &why) || v < lo || v > hi)
      sc_.fail_at(at, fmt::format("event #{}: field \"{}\": expected an integer in [{}, {}], found {} ({})",
                                  event_index_, field, lo, hi, num, *why ? why : "out of range"));
    return v;
  }

  double read_double(std::string_view field) {
    expect_kind(field, JsonScanner::Kind::Number, "a number");
    const size_t at = sc_.offset();
    const auto num = sc_.read_number();
    double v = 0;
    const char* why = "";
    if (!number_to_double(num, v, &why))
      sc_.fail_at(at, fmt::format("event #{}: field \"{}\": {} is {}", event_index_, field, num, why));
    return v;
  }

  int64_t read_micros(std::string_view field) {
    expect_kind(field, JsonScanner::Kind::Number, "a number (microseconds)");
    const size_t at = sc_.offset();
    const auto num = sc_.read_number();
    int64_t ns = 0;
    const char* why = "";
    if (!micros_to_nanos(num, ns, &why))
      sc_.fail_at(at, fmt::format("event #{}: field \"{}\": {} µs is out of range (nanoseconds must fit in "
                                  "a signed 64-bit integer, about ±292 years)", event_index_, field, num));
    return ns;
  }

  std::string_view read_str(std::string_view field) {
    expect_kind(field, JsonScanner::Kind::String, "a string");
    return sc_.read_string();
  }

  void read_id_value(std::string_view field, IdValue& out) {
    out.present = true;
    if (sc_.peek() == JsonScanner::Kind::String) {
      out.is_string = true;
      out.text = sc_.read_string();
      return;
    }
    if (sc_.peek() != JsonScanner::Kind::Number)
      fail_field(field, fmt::format("expected an integer or a string, found {}", sc_.describe_next()));
    out.num = static_cast<int32_t>(read_int(field, std::numeric_limits<int32_t>::min(),
                                            std::numeric_limits<int32_t>::max()));
  }

  void read_top_object() {
    sc_.begin_object();
    bool first = true;
    std::string_view key;
    bool saw_events = false;
    while (sc_.next_member(first, key)) {
      if (key == "traceEvents") {
        if (sc_.peek() != JsonScanner::Kind::Array)
          sc_.fail(fmt::format("\"traceEvents\": expected an array of events, found {}", sc_.describe_next()));
        read_events();
        saw_events = true;
      } else if (key == "metadata") {
        read_metadata();
      } else {
        // Other top-level keys (Kineto: schemaVersion, deviceProperties, distributedInfo, ...).
        const std::string k(key);
        if (k == "schemaVersion" || k == "deviceProperties" || k == "distributedInfo" || k == "traceName" ||
            k == "baseTimeNanoseconds")
          kineto_hint_ = true;
        keep_extra(k, 0);
      }
    }
    if (!saw_events) sc_.fail_at(0, "no \"traceEvents\" array in the trace object");
  }

  // Keeps scalar values (and the scalars of one nested object level) in metadata.extra.
  void keep_extra(const std::string& key, int depth) {
    switch (sc_.peek()) {
      case JsonScanner::Kind::String: tl_.metadata.extra[key] = std::string(sc_.read_string()); return;
      case JsonScanner::Kind::Number:
      case JsonScanner::Kind::True:
      case JsonScanner::Kind::False: tl_.metadata.extra[key] = std::string(sc_.skip_value()); return;
      case JsonScanner::Kind::Object:
        if (depth == 0) {
          sc_.begin_object();
          bool first = true;
          std::string_view sub;
          while (sc_.next_member(first, sub)) keep_extra(key + "." + std::string(sub), depth + 1);
          return;
        }
        break;
      default: break;
    }
    sc_.skip_value();
  }

  void read_metadata() {
    if (sc_.peek() != JsonScanner::Kind::Object)
      sc_.fail(fmt::format("\"metadata\": expected an object, found {}", sc_.describe_next()));
    sc_.begin_object();
    bool first = true;
    std::string_view key;
    while (sc_.next_member(first, key)) {
      const std::string k(key);
      const bool is_string = sc_.peek() == JsonScanner::Kind::String;
      if (k == "scenario" || k == "source" || k == "version") {
        if (!is_string) sc_.fail(fmt::format("metadata \"{}\": expected a string, found {}", k, sc_.describe_next()));
        const size_t at = sc_.offset();
        const std::string v(sc_.read_string());
        if (k == "scenario") tl_.metadata.scenario = v;
        else if (k == "version") tl_.metadata.version = v;
        else {
          if (!parse_trace_source(v, tl_.metadata.source))
            sc_.fail_at(at, fmt::format("metadata \"source\": expected one of sim, cpu, cuda, kineto, found \"{}\"", v));
          has_source_ = true;
        }
      } else if (is_string) {
        tl_.metadata.extra[k] = std::string(sc_.read_string());
      } else {
        tl_.metadata.extra[k] = std::string(sc_.skip_value());   // kept as its JSON text
      }
    }
  }

  void read_events() {
    sc_.begin_array();
    bool first = true;
    while (sc_.next_element(first)) {
      if (sc_.peek() != JsonScanner::Kind::Object)
        sc_.fail(fmt::format("event #{}: expected an object, found {}", event_index_, sc_.describe_next()));
      read_event();
      ++event_index_;
      if (consumed_ && event_index_ % 65536 == 0) consumed_(sc_.offset());
    }
  }

  void read_args() {
    if (sc_.peek() != JsonScanner::Kind::Object)
      fail_field("args", fmt::format("expected an object, found {}", sc_.describe_next()));
    sc_.begin_object();
    bool first = true;
    std::string_view key;
    constexpr int64_t i32min = std::numeric_limits<int32_t>::min(), i32max = std::numeric_limits<int32_t>::max();
    while (sc_.next_member(first, key)) {
      if (key == "op") {
        ev_.op = read_str("args.op");
        ev_.has_op = true;
      } else if (key == "name") {
        if (sc_.peek() == JsonScanner::Kind::String) {
          ev_.arg_name = sc_.read_string();
          ev_.has_arg_name = true;
        } else {
          sc_.skip_value();
        }
      } else if (key == "id") {
        ev_.id = read_int("args.id", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
      } else if (key == "stage") {
        ev_.stage = static_cast<int32_t>(read_int("args.stage", -1, i32max));
      } else if (key == "layer") {
        ev_.layer = static_cast<int32_t>(read_int("args.layer", -1, i32max));
      } else if (key == "mb") {
        ev_.mb = static_cast<int32_t>(read_int("args.mb", -1, i32max));
      } else if (key == "sms") {
        ev_.sms = static_cast<int32_t>(read_int("args.sms", -1, i32max));
      } else if (key == "phase") {
        const size_t at = sc_.offset();
        const auto p = read_str("args.phase");
        if (p.empty()) ev_.phase = 0;
        else if (p.size() == 1 && valid_phase(p[0])) ev_.phase = p[0];
        else
          sc_.fail_at(at, fmt::format("event #{}: field \"args.phase\": expected \"F\", \"B\" or \"W\", found \"{}\"",
                                      event_index_, p));
      } else if (key == "flops") {
        ev_.flops = read_double("args.flops");
      } else if (key == "bytes") {
        ev_.bytes = read_double("args.bytes");
      } else if (key == "correlation" && sc_.peek() == JsonScanner::Kind::Number) {
        ev_.correlation = read_int("args.correlation", i32min, std::numeric_limits<int64_t>::max());
      } else if (key == "External id" && sc_.peek() == JsonScanner::Kind::Number) {
        ev_.external_id = read_int("args.External id", i32min, std::numeric_limits<int64_t>::max());
      } else {
        // Kept as text; turned into Timeline args only for events of this project's form (with an op).
        if (ev_.extra_count == ev_.extra.size()) ev_.extra.emplace_back();
        auto& slot = ev_.extra[ev_.extra_count++];
        slot.first.assign(key);
        slot.second = sc_.skip_value();
      }
    }
  }

  void read_event() {
    ev_.reset(sc_.offset());
    sc_.begin_object();
    bool first = true;
    std::string_view key;
    while (sc_.next_member(first, key)) {
      if (key.empty()) {
        sc_.skip_value();
        continue;
      }
      switch (key[0]) {
        case 'p':
          if (key == "ph") {
            ev_.ph = read_str("ph");
            ev_.has_ph = true;
            continue;
          }
          if (key == "pid") {
            read_id_value("pid", ev_.pid);
            continue;
          }
          break;
        case 't':
          if (key == "ts") {
            ev_.ts_ns = read_micros("ts");
            ev_.has_ts = true;
            continue;
          }
          if (key == "tid") {
            read_id_value("tid", ev_.tid);
            continue;
          }
          break;
        case 'd':
          if (key == "dur") {
            ev_.dur_offset = sc_.offset();
            ev_.dur_ns = read_micros("dur");
            ev_.has_dur = true;
            continue;
          }
          break;
        case 'n':
          if (key == "name") {
            ev_.name = read_str("name");
            ev_.has_name = true;
            continue;
          }
          break;
        case 'c':
          if (key == "cat") {
            ev_.cat = read_str("cat");
            ev_.has_cat = true;
            continue;
          }
          break;
        case 'a':
          if (key == "args") {
            read_args();
            continue;
          }
          break;
        case 'i':
          if (key == "id") {
            const auto k = sc_.peek();
            if (k == JsonScanner::Kind::String) {
              ev_.flow_id = sc_.read_string();
            } else if (k == JsonScanner::Kind::Number) {
              ev_.flow_id = sc_.read_number();
              ev_.flow_id_is_number = true;
            } else {
              fail_field("id", fmt::format("expected a number or a string, found {}", sc_.describe_next()));
            }
            ev_.has_flow_id = true;
            continue;
          }
          break;
        case 'b':
          if (key == "bp") {
            ev_.bp = read_str("bp");
            continue;
          }
          break;
        default: break;
      }
      sc_.skip_value();
    }
    finish_event();
  }

  [[noreturn]] void fail_event(const std::string& what) {
    sc_.fail_at(ev_.offset, fmt::format("event #{}: {}", event_index_, what));
  }

  int32_t map_pid(const IdValue& v) {
    if (!v.present) return 0;
    if (!v.is_string) return v.num;
    auto [it, fresh] = string_pids_.try_emplace(v.text, 0);
    if (fresh) {
      it->second = next_string_id_++;
      tl_.process_names.try_emplace(it->second, v.text);
    }
    return it->second;
  }

  int32_t map_tid(int32_t pid, const IdValue& v) {
    if (!v.present) return 0;
    if (!v.is_string) return v.num;
    auto [it, fresh] = string_tids_.try_emplace(std::to_string(pid) + '\x1f' + v.text, 0);
    if (fresh) {
      it->second = next_string_id_++;
      tl_.thread_names.try_emplace({pid, it->second}, v.text);
    }
    return it->second;
  }

  // The map's entry for a Kineto event (one with a category and no `op` arg); nullptr otherwise.
  const KindEntry* kind_entry() {
    if (ev_.has_op || !ev_.has_cat) return nullptr;
    const uint32_t name_id = tl_.intern(ev_.name);
    const uint64_t key = (uint64_t{tl_.intern(ev_.cat)} << 32) | name_id;
    auto it = kind_cache_.find(key);
    if (it != kind_cache_.end()) return &it->second;
    KindEntry k;
    if (ev_.cat == "kernel") {
      const KernelRule* rule = map_.match(ev_.name);
      k.kind = tl_.intern(rule ? std::string_view(rule->kind) : std::string_view("kernel"));
      k.cls = tl_.intern(to_string(rule ? rule->cls : KernelClass::Unknown));
      k.device = true;
      if (!rule) {
        if (stats_.unknown_kernel_examples.size() < kMaxListedUnknown) stats_.unknown_kernel_examples.push_back(ev_.name);
        ++stats_.unknown_kernel_names;
      }
    } else {
      k.kind = tl_.intern(kineto_op_kind(ev_.cat, ev_.name));
      k.device = ev_.cat == "gpu_memcpy" || ev_.cat == "gpu_memset";
      if (k.device) k.cls = tl_.intern(to_string(KernelClass::Copy));
    }
    return &kind_cache_.emplace(key, k).first->second;
  }

  uint32_t op_id(const KindEntry* k) {
    if (ev_.has_op) return tl_.intern(ev_.op);
    return k ? k->kind : 0;
  }

  // A Kineto event's class arg, stream role, unknown count, and what phases need (launches by
  // correlation, phase annotations, kernels waiting for a phase).
  void note_kineto_event(const KindEntry& k, Event& e) {
    const uint32_t index = uint32_t(tl_.events.size() - 1);
    if (k.cls != 0) {
      tl_.add_arg(e, kClassArg, tl_.str(k.cls));
      if (tl_.str(k.cls) == to_string(KernelClass::Unknown)) ++stats_.unknown_kernels;
    }
    if (k.device) {
      if (auto it = map_.streams.find(e.tid); it != map_.streams.end()) tl_.track_roles[{e.pid, e.tid}] = it->second;
      if (!map_.phases.empty() && ev_.correlation >= 0) phase_wanted_.emplace_back(index, ev_.correlation);
      return;
    }
    if (map_.phases.empty()) return;
    if ((ev_.cat == "cuda_runtime" || ev_.cat == "cuda_driver") && ev_.correlation >= 0) {
      launches_.try_emplace(ev_.correlation, std::pair{e.pid, e.start_ns});
    } else if (ev_.cat == "user_annotation") {
      if (const char ph = map_.phase_of_annotation(ev_.name)) phase_ranges_.push_back({e.pid, e.start_ns, e.end_ns(), ph});
    }
  }

  // Each kernel waiting for a phase takes the phase of the innermost phase annotation of its
  // launching process that encloses its launch (the runtime call with the same correlation).
  void assign_phases() {
    if (phase_wanted_.empty() || phase_ranges_.empty()) return;
    std::sort(phase_ranges_.begin(), phase_ranges_.end(), [](const PhaseRange& a, const PhaseRange& b) {
      return std::tie(a.pid, a.start_ns, a.end_ns) < std::tie(b.pid, b.start_ns, b.end_ns);
    });
    constexpr int kMaxSteps = 4096;   // ranges walked back from a launch (a bound, not a guess)
    for (const auto& [event, correlation] : phase_wanted_) {
      const auto launch = launches_.find(correlation);
      if (launch == launches_.end()) continue;
      const auto [pid, ts] = launch->second;
      auto it = std::upper_bound(phase_ranges_.begin(), phase_ranges_.end(), std::pair{pid, ts},
                                 [](const std::pair<int32_t, int64_t>& k, const PhaseRange& r) {
                                   return std::tie(k.first, k.second) < std::tie(r.pid, r.start_ns);
                                 });
      const PhaseRange* best = nullptr;
      for (int steps = 0; it != phase_ranges_.begin() && steps < kMaxSteps; ++steps) {
        --it;
        if (it->pid != pid) break;
        if (it->end_ns >= ts && (!best || it->end_ns - it->start_ns < best->end_ns - best->start_ns)) best = &*it;
      }
      if (best) {
        tl_.events[event].phase = best->phase;
        ++stats_.phased_kernels;
      }
    }
  }

  Event make_event(int32_t pid, int32_t tid, const KindEntry* k) {
    Event e;
    e.start_ns = ev_.ts_ns;
    e.dur_ns = ev_.dur_ns;
    e.pid = pid;
    e.tid = tid;
    e.name = tl_.intern(ev_.name);
    e.op = op_id(k);
    e.id = ev_.id >= 0 ? ev_.id : ev_.correlation >= 0 ? ev_.correlation : ev_.external_id;
    e.stage = ev_.stage;
    e.layer = ev_.layer;
    e.mb = ev_.mb;
    e.sms = ev_.sms;
    e.phase = ev_.phase;
    e.flops = ev_.flops;
    e.bytes = ev_.bytes;
    return e;
  }

  // The further args of an event of this project's form: integers (no '.' or exponent), other
  // numbers, booleans, strings and arrays of numbers; other values (null, objects) are left out.
  void add_extra_args(Event& e) {
    if (!ev_.has_op) return;
    for (size_t i = 0; i < ev_.extra_count; ++i) {
      const auto& [key, raw] = ev_.extra[i];
      const char* why = "";
      // Numbers and plain strings directly from their (already checked) text; the rest through a scanner.
      if (!raw.empty() && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'))) {
        int64_t iv = 0;
        double dv = 0;
        if (raw.find_first_of(".eE") == std::string_view::npos && number_to_int64(raw, iv, &why)) tl_.add_arg(e, key, iv);
        else if (number_to_double(raw, dv, &why)) tl_.add_arg(e, key, dv);
        continue;
      }
      if (raw.size() >= 2 && raw[0] == '"' && raw.find('\\') == std::string_view::npos) {
        tl_.add_arg(e, key, raw.substr(1, raw.size() - 2));
        continue;
      }
      JsonScanner v(raw, std::string());
      switch (v.peek()) {
        case JsonScanner::Kind::Number: {
          const auto num = v.read_number();
          int64_t iv = 0;
          double dv = 0;
          if (num.find_first_of(".eE") == std::string_view::npos && number_to_int64(num, iv, &why)) tl_.add_arg(e, key, iv);
          else if (number_to_double(num, dv, &why)) tl_.add_arg(e, key, dv);
          break;
        }
        case JsonScanner::Kind::True:
        case JsonScanner::Kind::False: tl_.add_arg(e, key, v.read_bool()); break;
        case JsonScanner::Kind::String: tl_.add_arg(e, key, v.read_string()); break;
        case JsonScanner::Kind::Array: {
          numbers_.clear();
          bool first = true, all_numbers = true;
          v.begin_array();
          while (v.next_element(first)) {
            double dv = 0;
            if (v.peek() == JsonScanner::Kind::Number && number_to_double(v.read_number(), dv, &why)) {
              numbers_.push_back(dv);
            } else {
              all_numbers = false;
              v.skip_value();
            }
          }
          if (all_numbers) tl_.add_arg(e, key, std::span<const double>(numbers_));
          break;
        }
        default: break;
      }
    }
  }

  static bool kineto_category(std::string_view cat) {
    return cat == "kernel" || cat == "cpu_op" || cat == "cuda_runtime" || cat == "gpu_memcpy" ||
           cat == "gpu_memset" || cat == "python_function" || cat == "ac2g" || cat == "cuda_driver";
  }

  void finish_event() {
    if (!ev_.has_ph) fail_event("missing required field \"ph\"");
    if (ev_.ph.size() != 1) fail_event(fmt::format("unknown phase \"ph\":\"{}\"", ev_.ph));
    const char ph = ev_.ph[0];
    if (ev_.has_cat && !kineto_hint_ && kineto_category(ev_.cat)) kineto_hint_ = true;
    const int32_t pid = map_pid(ev_.pid);
    const int32_t tid = map_tid(pid, ev_.tid);
    auto need_ts = [&] {
      if (!ev_.has_ts) fail_event(fmt::format("missing required field \"ts\" (an event with \"ph\":\"{}\")", ph));
    };
    switch (ph) {
      case 'X': {
        need_ts();
        if (!ev_.has_dur) fail_event("missing required field \"dur\" (a complete event, \"ph\":\"X\")");
        if (ev_.dur_ns < 0)
          sc_.fail_at(ev_.dur_offset, fmt::format("event #{}: field \"dur\": negative duration", event_index_));
        if (ev_.ts_ns > std::numeric_limits<int64_t>::max() - ev_.dur_ns)
          sc_.fail_at(ev_.dur_offset, fmt::format("event #{}: ts + dur is out of range", event_index_));
        const KindEntry* k = kind_entry();
        tl_.events.push_back(make_event(pid, tid, k));
        add_extra_args(tl_.events.back());
        if (k) note_kineto_event(*k, tl_.events.back());
        ++stats_.complete_events;
        return;
      }
      case 'B': {
        need_ts();
        open_[{pid, tid}].push_back(make_event(pid, tid, kind_entry()));
        return;
      }
      case 'E': {
        need_ts();
        auto it = open_.find({pid, tid});
        if (it == open_.end() || it->second.empty()) {
          ++stats_.unmatched_begin_end;
          return;
        }
        Event e = it->second.back();
        it->second.pop_back();
        if (ev_.ts_ns < e.start_ns) fail_event("\"E\" event earlier than its \"B\" event");
        e.dur_ns = ev_.ts_ns - e.start_ns;
        tl_.events.push_back(e);
        ++stats_.complete_events;
        return;
      }
      case 'M': {
        if (ev_.name == "process_name" && ev_.has_arg_name) tl_.process_names[pid] = ev_.arg_name;
        else if (ev_.name == "thread_name" && ev_.has_arg_name) tl_.thread_names[{pid, tid}] = ev_.arg_name;
        else if (ev_.name == "process_name" || ev_.name == "thread_name")
          fail_event(fmt::format("metadata event \"{}\" without a string \"args.name\"", ev_.name));
        return;
      }
      case 's':
      case 'f': {
        need_ts();
        if (!ev_.has_flow_id) fail_event(fmt::format("flow event (\"ph\":\"{}\") without an \"id\"", ph));
        add_flow_point(ph == 's', pid, tid);
        return;
      }
      default: ++stats_.skipped_events; return;
    }
  }

  void add_flow_point(bool is_start, int32_t pid, int32_t tid) {
    std::string key = ev_.cat;
    key += '\x1f';
    key += ev_.flow_id;
    auto it = open_flows_.find(key);
    size_t index = 0;
    if (it != open_flows_.end() && !(is_start ? pending_[it->second].start.set : pending_[it->second].finish.set)) {
      index = it->second;
    } else {
      index = pending_.size();
      PendingFlow f;
      int64_t v = 0;
      const char* why = "";
      f.id = ev_.flow_id_is_number && number_to_int64(ev_.flow_id, v, &why) ? v : static_cast<int64_t>(index);
      pending_.push_back(f);
      open_flows_[key] = index;
    }
    PendingFlow& f = pending_[index];
    FlowPoint& point = is_start ? f.start : f.finish;
    point.set = true;
    point.pid = pid;
    point.tid = tid;
    point.ts_ns = ev_.ts_ns;
    point.next_slice = !is_start && ev_.bp != "e";
    if (f.start.set && f.finish.set) open_flows_.erase(key);
  }

  // Binds each flow end to a slice of its track: the first slice starting exactly at ts, else the
  // innermost slice enclosing ts ("f" without "bp":"e": the first slice starting at or after ts).
  void resolve_flows() {
    if (pending_.empty()) return;
    std::unordered_map<uint64_t, std::vector<uint32_t>> tracks;
    auto track_key = [](int32_t pid, int32_t tid) {
      return (uint64_t{static_cast<uint32_t>(pid)} << 32) | static_cast<uint32_t>(tid);
    };
    for (uint32_t i = 0; i < tl_.events.size(); ++i)
      tracks[track_key(tl_.events[i].pid, tl_.events[i].tid)].push_back(i);
    const auto& evs = tl_.events;
    for (auto& [k, list] : tracks)
      std::stable_sort(list.begin(), list.end(),
                       [&](uint32_t a, uint32_t b) { return evs[a].start_ns < evs[b].start_ns; });
    auto bind = [&](const FlowPoint& p, uint32_t& out) {
      if (!p.set) return false;
      auto t = tracks.find(track_key(p.pid, p.tid));
      if (t == tracks.end()) return false;
      const auto& list = t->second;
      auto lo = std::lower_bound(list.begin(), list.end(), p.ts_ns,
                                 [&](uint32_t e, int64_t ts) { return evs[e].start_ns < ts; });
      if (lo != list.end() && (evs[*lo].start_ns == p.ts_ns || p.next_slice)) {
        out = *lo;
        return true;
      }
      // Innermost enclosing slice: the latest start before ts whose end reaches ts.
      int steps = 0;
      for (auto it = lo; it != list.begin() && steps < 256; ++steps) {
        --it;
        if (evs[*it].end_ns() >= p.ts_ns) {
          out = *it;
          return true;
        }
      }
      return false;
    };
    for (const auto& f : pending_) {
      uint32_t from = 0, to = 0;
      const bool ok_from = bind(f.start, from);
      const bool ok_to = bind(f.finish, to);
      if (ok_from && ok_to) {
        tl_.add_flow(f.id, from, to);
        ++stats_.flows;
      } else {
        stats_.unresolved_flow_points += static_cast<size_t>(f.start.set) + static_cast<size_t>(f.finish.set);
      }
    }
  }

  JsonScanner sc_;
  const KinetoMap& map_;
  std::function<void(size_t)> consumed_;
  Timeline tl_;
  ReadStats stats_;
  RawEvent ev_;
  size_t event_index_ = 0;
  bool kineto_hint_ = false, has_source_ = false;
  int32_t next_string_id_ = kFirstStringId;
  std::unordered_map<std::string, int32_t> string_pids_, string_tids_;
  std::unordered_map<uint64_t, KindEntry> kind_cache_;
  std::unordered_map<int64_t, std::pair<int32_t, int64_t>> launches_;   // correlation -> (pid, ts)
  std::vector<PhaseRange> phase_ranges_;
  std::vector<std::pair<uint32_t, int64_t>> phase_wanted_;              // (event, correlation)
  std::vector<double> numbers_;   // scratch for a Numbers arg
  std::map<std::pair<int32_t, int32_t>, std::vector<Event>> open_;
  std::unordered_map<std::string, size_t> open_flows_;
  std::vector<PendingFlow> pending_;
};

// A read-only mapping of a whole file, unmapped on scope exit.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    // The type first: a FIFO or a device is refused before it is opened (opening a FIFO would wait
    // for a writer); O_NONBLOCK keeps the open from waiting should the path be swapped meanwhile.
    try {
      io::checked_input_size(path, std::numeric_limits<uint64_t>::max(), "a trace file (Chrome trace JSON)");
    } catch (const io::InputError& e) {
      throw TraceError(e.what(), path, 0, 0, 0);
    }
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd_ < 0) throw TraceError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)), path, 0, 0, 0);
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw TraceError(fmt::format("{}: not a regular file", path), path, 0, 0, 0);
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
      if (p == MAP_FAILED) {
        ::close(fd_);
        throw TraceError(fmt::format("{}: cannot map: {}", path, std::strerror(errno)), path, 0, 0, 0);
      }
      ::madvise(p, size_, MADV_SEQUENTIAL);
      data_ = static_cast<const char*>(p);
    }
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view text() const { return {data_ ? data_ : "", size_}; }
  // Drops the pages before `offset` from this process's memory; they stay in the page cache and
  // come back from the file if read again (an error message counting lines does).
  void release_before(size_t offset) {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t end = offset / page * page;
    if (!data_ || end <= released_) return;
    ::madvise(const_cast<char*>(data_) + released_, end - released_, MADV_DONTNEED);
    released_ = end;
  }

 private:
  int fd_ = -1;
  const char* data_ = nullptr;
  size_t size_ = 0;
  size_t released_ = 0;
};

}  // namespace

namespace {
Timeline parse(std::string_view text, std::string_view source_name, ReadStats* stats, const KinetoMap* map,
               std::function<void(size_t)> consumed) {
  const size_t bytes = text.size();
  size_t skipped = 0;
  if (text.size() >= 3 && std::memcmp(text.data(), "\xEF\xBB\xBF", 3) == 0) {   // UTF-8 byte order mark
    text.remove_prefix(3);
    skipped = 3;
  }
  if (consumed) consumed = [f = std::move(consumed), skipped](size_t n) { f(n + skipped); };
  Reader reader(text, std::string(source_name), map ? *map : builtin_kineto_map(), std::move(consumed));
  return reader.run(stats, bytes);
}
}  // namespace

Timeline parse_trace(std::string_view text, std::string_view source_name, ReadStats* stats, const KinetoMap* map) {
  return parse(text, source_name, stats, map, {});
}

Timeline read_trace(const std::string& path, ReadStats* stats, const KinetoMap* map) {
  MappedFile file(path);
  return parse(file.text(), path, stats, map, [&file](size_t offset) { file.release_before(offset); });
}

}  // namespace tandem::trace
