// Timeline: the in-memory form of a trace shared by the simulator, the backend, the viewer and
// `tandem compare`: timed events per rank (pid) and stream (tid) with typed args, the flows that link
// a send to its receive, process/thread names and metadata. Names and op kinds are interned strings.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tandem::trace {

// Stream convention (docs/timeline.md): pid = rank; tid 0 = compute stream, tid 1 = communication
// stream (expert all-to-all, collectives), tid 2 = point-to-point (pipeline send/recv, as ir::Stream);
// further tids are allowed and are classified by their content.
inline constexpr int32_t kComputeStream = 0;
inline constexpr int32_t kCommStream = 1;
inline constexpr int32_t kP2PStream = 2;

// Op kinds written in the `op` arg. Communication kinds are the ones op_class() calls Comm.
namespace op_kind {
inline constexpr std::string_view kGemm = "gemm", kAttention = "attention", kNorm = "norm",
                                  kElementwise = "elementwise", kRouter = "router",
                                  kQuantize = "quantize", kPermute = "permute",
                                  kAllToAll = "all_to_all", kNotify = "notify", kSend = "send", kRecv = "recv",
                                  kAllReduce = "all_reduce", kReduceScatter = "reduce_scatter",
                                  kAllGather = "all_gather", kOptimizer = "optimizer",
                                  kMemcpy = "memcpy", kMemset = "memset";
}  // namespace op_kind

// What an op kind occupies. Compute and Optimizer are compute work; Comm is communication; Copy is
// a memcpy/memset; Host is CPU-side work of an imported profile; Annotation is a user range that
// overlaps the kernels it labels (never counted as busy time).
enum class OpClass : uint8_t { Compute, Comm, Optimizer, Copy, Host, Annotation };
OpClass op_class(std::string_view op_kind);
std::string_view to_string(OpClass c);

// Phase of a training op: 'F' forward, 'B' backward for inputs, 'W' backward for weights, 0 none.
bool valid_phase(char phase);

// What a track (one stream of one rank) does. Compute: the stream whose idle time is the rank's
// bubble; Comm: communication; Side: a second compute stream (weight gradients beside the main one):
// its kernels count as compute, its idle time is no bubble; Host: CPU-side work of an imported profile.
enum class TrackRole : uint8_t { Compute, Comm, Side, Host };
std::string_view to_string(TrackRole r);             // "compute", "communication", "side", "host"

enum class TraceSource : uint8_t { Unknown, Sim, Cpu, Cuda, Kineto };
std::string_view to_string(TraceSource s);           // "", "sim", "cpu", "cuda", "kineto"
bool parse_trace_source(std::string_view text, TraceSource& out);

struct TraceMetadata {
  std::string scenario;
  TraceSource source = TraceSource::Unknown;
  std::string version;
  std::map<std::string, std::string> extra;          // free key/value pairs, written sorted
};

// A further arg of an event beyond the typed fields of Event: the op's payload (GEMM m/n/k, attention
// shape, bytes per peer, ...). Int and Number are told apart in the file by the number's form (a
// Number is written with a '.' or an exponent); Text is a string-table id; Numbers is a list of
// doubles held in Timeline::arg_numbers.
enum class ArgType : uint8_t { Int, Number, Bool, Text, Numbers };
struct Arg {
  uint32_t key = 0;                 // string-table id of the arg's name
  ArgType type = ArgType::Int;
  uint32_t count = 0;               // Numbers: how many
  int64_t int_value = 0;            // Int; Bool (0 or 1); Text (string id); Numbers (offset into arg_numbers)
  double number = 0.0;              // Number
};

// One complete event ("ph":"X"). Absent args: id < 0, stage/layer/mb/sms = -1, phase = 0, flops and
// bytes = 0. `name` and `op` index Timeline's string table (op 0 is the empty kind). Further args
// are Timeline::args[args_begin, args_begin + args_count).
struct Event {
  int64_t start_ns = 0;
  int64_t dur_ns = 0;
  int64_t id = -1;
  double flops = 0.0;
  double bytes = 0.0;
  int32_t pid = 0;                  // rank
  int32_t tid = 0;                  // stream
  uint32_t name = 0;
  uint32_t op = 0;
  int32_t stage = -1, layer = -1, mb = -1, sms = -1;
  char phase = 0;
  uint32_t args_count = 0;
  uint64_t args_begin = 0;
  int64_t end_ns() const { return start_ns + dur_ns; }
};

// A send linked to its receive: indices into Timeline::events.
struct Flow {
  int64_t id = 0;
  uint32_t from_event = 0;
  uint32_t to_event = 0;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class Timeline {
 public:
  Timeline();

  std::vector<Event> events;
  std::vector<Flow> flows;
  std::vector<Arg> args;              // further args of the events, each event's contiguous
  std::vector<double> arg_numbers;    // the values of Numbers args
  std::map<int32_t, std::string> process_names;                       // pid -> name
  std::map<std::pair<int32_t, int32_t>, std::string> thread_names;    // (pid, tid) -> name
  // Roles stated by the source (a Kineto map's streams); tracks not listed take theirs from their
  // content (trace/track_index.h). Held in memory only: the writer does not write them.
  std::map<std::pair<int32_t, int32_t>, TrackRole> track_roles;     // (pid, tid) -> role
  TraceMetadata metadata;

  // The id of `s` in the string table, adding it when new. Id 0 is the empty string.
  uint32_t intern(std::string_view s);
  std::string_view str(uint32_t id) const { return strings_[id]; }
  size_t string_count() const { return strings_.size(); }
  // Id of `s` if present, else UINT32_MAX.
  uint32_t find_string(std::string_view s) const;

  std::string_view name_of(const Event& e) const { return strings_[e.name]; }
  std::string_view op_of(const Event& e) const { return strings_[e.op]; }

  // Appends an event and returns it for setting args.
  Event& add_event(std::string_view name, int32_t pid, int32_t tid, int64_t start_ns, int64_t dur_ns,
                   std::string_view op = {});
  void add_flow(int64_t id, uint32_t from_event, uint32_t to_event);

  // Further args of the last event added (`e` must be it, so each event's args stay contiguous).
  void add_arg(Event& e, std::string_view key, int64_t value);
  void add_arg(Event& e, std::string_view key, double value);
  void add_arg(Event& e, std::string_view key, bool value);
  void add_arg(Event& e, std::string_view key, std::string_view text);
  void add_arg(Event& e, std::string_view key, std::span<const double> numbers);
  // Keep string literals from binding to bool.
  void add_arg(Event& e, std::string_view key, const char* text) { add_arg(e, key, std::string_view(text)); }

  std::span<const Arg> args_of(const Event& e) const { return {args.data() + e.args_begin, e.args_count}; }
  // The arg named `key` of `e`, or nullptr.
  const Arg* find_arg(const Event& e, std::string_view key) const;
  // An Int (or integral Bool) arg's value, or `fallback` when absent or of another type.
  int64_t int_arg(const Event& e, std::string_view key, int64_t fallback = -1) const;
  std::span<const double> numbers_of(const Arg& a) const { return {arg_numbers.data() + a.int_value, a.count}; }

  // Earliest start and latest end over all events ({0, 0} when empty).
  std::pair<int64_t, int64_t> time_span() const;

 private:
  std::deque<std::string> strings_;   // deque: interned strings never move
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> index_;
};

// Whether two timelines hold the same content (events in order with equal strings and args, flows,
// names, metadata). On a difference, `why` (when given) says where the first one is.
bool same_content(const Timeline& a, const Timeline& b, std::string* why = nullptr);

}  // namespace tandem::trace
