// Trace writer: one JSON object per line (metadata events, complete events, flow pairs, then the
// metadata object), formatted into a buffer that is flushed every megabyte.
#include "trace/trace_writer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>

#include <fmt/format.h>

#include "io/output_file.h"

namespace tandem::trace {
namespace {

using Buffer = fmt::memory_buffer;

void append_micros(Buffer& b, int64_t ns) {
  uint64_t mag = ns < 0 ? uint64_t{0} - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  if (ns < 0) b.push_back('-');
  fmt::format_to(std::back_inserter(b), "{}", mag / 1000);
  uint64_t frac = mag % 1000;
  if (frac == 0) return;
  char digits[4] = {static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                    static_cast<char>('0' + frac % 10), 0};
  int n = 3;
  while (digits[n - 1] == '0') --n;
  b.push_back('.');
  b.append(digits, digits + n);
}

void append_string(Buffer& b, std::string_view s) {
  b.push_back('"');
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    b.append(s.data() + run, s.data() + i);
    run = i + 1;
    switch (c) {
      case '"': b.append(std::string_view("\\\"")); break;
      case '\\': b.append(std::string_view("\\\\")); break;
      case '\n': b.append(std::string_view("\\n")); break;
      case '\t': b.append(std::string_view("\\t")); break;
      case '\r': b.append(std::string_view("\\r")); break;
      default: fmt::format_to(std::back_inserter(b), "\\u{:04x}", c); break;
    }
  }
  b.append(s.data() + run, s.data() + s.size());
  b.push_back('"');
}

void append_double(Buffer& b, double v, const char* what, std::string_view event) {
  if (!std::isfinite(v))
    throw std::invalid_argument(fmt::format("trace writer: event \"{}\": {} is {}, JSON has no such number",
                                            event, what, v));
  fmt::format_to(std::back_inserter(b), "{}", v);
}

// A Number arg: the shortest round-trip form, with ".0" added to an integral value so that the
// reader tells it from an Int arg.
void append_number(Buffer& b, double v, std::string_view what, std::string_view event) {
  if (!std::isfinite(v))
    throw std::invalid_argument(fmt::format("trace writer: event \"{}\": arg {} is {}, JSON has no such number",
                                            event, what, v));
  const size_t at = b.size();
  fmt::format_to(std::back_inserter(b), "{}", v);
  const std::string_view text(b.data() + at, b.size() - at);
  if (text.find_first_of(".eE") == std::string_view::npos) b.append(std::string_view(".0"));
}

class Sink {
 public:
  explicit Sink(std::function<void(const char*, size_t)> write) : write_(std::move(write)) {}
  Buffer& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= (1u << 20)) flush();
  }
  void flush() {
    if (buf_.size()) write_(buf_.data(), buf_.size());
    buf_.clear();
  }

 private:
  Buffer buf_;
  std::function<void(const char*, size_t)> write_;
};

void write_all(const Timeline& tl, Sink& sink, const WriteOptions& opt) {
  std::vector<int32_t> ranks = opt.ranks;
  std::sort(ranks.begin(), ranks.end());
  auto keep = [&](int32_t pid) { return ranks.empty() || std::binary_search(ranks.begin(), ranks.end(), pid); };
  Buffer& b = sink.buf();
  auto out = std::back_inserter(b);
  b.append(std::string_view("{\"traceEvents\":[\n"));
  bool first = true;
  auto sep = [&] {
    if (!first) b.append(std::string_view(",\n"));
    first = false;
  };
  for (const auto& [pid, name] : tl.process_names) {
    if (!keep(pid)) continue;
    sep();
    fmt::format_to(out, "{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"tid\":0,\"args\":{{\"name\":", pid);
    append_string(b, name);
    b.append(std::string_view("}}"));
  }
  for (const auto& [key, name] : tl.thread_names) {
    if (!keep(key.first)) continue;
    sep();
    fmt::format_to(out, "{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{},\"tid\":{},\"args\":{{\"name\":",
                   key.first, key.second);
    append_string(b, name);
    b.append(std::string_view("}}"));
  }
  for (const Event& e : tl.events) {
    if (!keep(e.pid)) continue;
    sep();
    const std::string_view name = tl.name_of(e);
    const std::string_view op = tl.op_of(e);
    if (e.dur_ns < 0)
      throw std::invalid_argument(fmt::format("trace writer: event \"{}\" has a negative duration ({} ns)", name, e.dur_ns));
    b.append(std::string_view("{\"ph\":\"X\",\"name\":"));
    append_string(b, name);
    if (!op.empty()) {
      b.append(std::string_view(",\"cat\":"));
      append_string(b, op);
    }
    fmt::format_to(out, ",\"pid\":{},\"tid\":{},\"ts\":", e.pid, e.tid);
    append_micros(b, e.start_ns);
    b.append(std::string_view(",\"dur\":"));
    append_micros(b, e.dur_ns);
    b.append(std::string_view(",\"args\":{"));
    bool first_arg = true;
    // Keys are escaped like values: an arg key read from a trace may hold any character (a "\r" one
    // written raw did not read back).
    auto key = [&](std::string_view k) {
      if (!first_arg) b.push_back(',');
      first_arg = false;
      append_string(b, k);
      b.push_back(':');
    };
    if (!op.empty()) {
      key("op");
      append_string(b, op);
    }
    if (e.id >= 0) key("id"), fmt::format_to(out, "{}", e.id);
    if (e.stage >= 0) key("stage"), fmt::format_to(out, "{}", e.stage);
    if (e.layer >= 0) key("layer"), fmt::format_to(out, "{}", e.layer);
    if (e.mb >= 0) key("mb"), fmt::format_to(out, "{}", e.mb);
    if (e.phase) {
      key("phase");
      const char p[2] = {e.phase, 0};
      append_string(b, p);
    }
    if (e.flops != 0.0) key("flops"), append_double(b, e.flops, "flops", name);
    if (e.bytes != 0.0) key("bytes"), append_double(b, e.bytes, "bytes", name);
    if (e.sms >= 0) key("sms"), fmt::format_to(out, "{}", e.sms);
    for (const Arg& a : tl.args_of(e)) {
      key(tl.str(a.key));
      switch (a.type) {
        case ArgType::Int: fmt::format_to(out, "{}", a.int_value); break;
        case ArgType::Bool: b.append(a.int_value ? std::string_view("true") : std::string_view("false")); break;
        case ArgType::Text: append_string(b, tl.str(uint32_t(a.int_value))); break;
        case ArgType::Number: append_number(b, a.number, tl.str(a.key), name); break;
        case ArgType::Numbers: {
          b.push_back('[');
          bool first_number = true;
          for (double v : tl.numbers_of(a)) {
            if (!first_number) b.push_back(',');
            first_number = false;
            append_number(b, v, tl.str(a.key), name);
          }
          b.push_back(']');
          break;
        }
      }
    }
    b.append(std::string_view("}}"));
    sink.maybe_flush();
  }
  for (const Flow& f : tl.flows) {
    if (f.from_event >= tl.events.size() || f.to_event >= tl.events.size())
      throw std::invalid_argument(fmt::format("trace writer: flow {} refers to event {} or {}, but there are {} events",
                                              f.id, f.from_event, f.to_event, tl.events.size()));
    const Event& from = tl.events[f.from_event];
    const Event& to = tl.events[f.to_event];
    if (!keep(from.pid) || !keep(to.pid)) continue;
    sep();
    fmt::format_to(out, "{{\"ph\":\"s\",\"name\":\"flow\",\"cat\":\"flow\",\"id\":{},\"pid\":{},\"tid\":{},\"ts\":",
                   f.id, from.pid, from.tid);
    append_micros(b, from.start_ns);
    fmt::format_to(out, "}},\n{{\"ph\":\"f\",\"bp\":\"e\",\"name\":\"flow\",\"cat\":\"flow\",\"id\":{},\"pid\":{},"
                        "\"tid\":{},\"ts\":",
                   f.id, to.pid, to.tid);
    append_micros(b, to.start_ns);
    b.push_back('}');
    sink.maybe_flush();
  }
  b.append(std::string_view("\n],\n\"metadata\":{"));
  bool first_meta = true;
  auto meta = [&](std::string_view k, std::string_view v) {
    if (!first_meta) b.push_back(',');
    first_meta = false;
    append_string(b, k);
    b.push_back(':');
    append_string(b, v);
  };
  if (!tl.metadata.scenario.empty()) meta("scenario", tl.metadata.scenario);
  if (tl.metadata.source != TraceSource::Unknown) meta("source", to_string(tl.metadata.source));
  if (!tl.metadata.version.empty()) meta("version", tl.metadata.version);
  for (const auto& [k, v] : tl.metadata.extra) {
    if (k == "scenario" || k == "source" || k == "version") continue;   // the typed fields own these keys
    meta(k, v);
  }
  b.append(std::string_view("}}\n"));
  sink.flush();
}

}  // namespace

std::string format_micros(int64_t ns) {
  Buffer b;
  append_micros(b, ns);
  return fmt::to_string(b);
}

void write_trace(const Timeline& tl, std::FILE* f, const WriteOptions& options) {
  Sink sink([f](const char* p, size_t n) {
    if (std::fwrite(p, 1, n, f) != n)
      throw std::runtime_error(fmt::format("trace writer: write failed: {}", std::strerror(errno)));
  });
  write_all(tl, sink, options);
}

void write_trace(const Timeline& tl, io::OutputFile& out, const WriteOptions& options) {
  Sink sink([&out](const char* p, size_t n) { out.write(std::string_view(p, n)); });
  write_all(tl, sink, options);
}

void write_trace(const Timeline& tl, const std::string& path, const WriteOptions& options) {
  io::OutputFile out(path);   // complete or absent; a device or a pipe is written in place
  write_trace(tl, out, options);
  out.commit();
}

std::string write_trace_string(const Timeline& tl, const WriteOptions& options) {
  std::string out;
  Sink sink([&out](const char* p, size_t n) { out.append(p, n); });
  write_all(tl, sink, options);
  return out;
}

}  // namespace tandem::trace
