// Timeline of a simulated step (see cmd_simulate_trace.h).
#ifdef TANDEM_SIM
#include "app/cmd_simulate_trace.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

namespace tandem::app {

std::vector<int64_t> parse_rank_list(const std::string& text, int64_t num_ranks) {
  std::vector<int64_t> out;
  if (text == "all") {
    for (int64_t r = 0; r < num_ranks; ++r) out.push_back(r);
    return out;
  }
  auto bad = [&](const std::string& found) {
    throw std::invalid_argument(fmt::format("--trace-ranks '{}': expected 'all' or ranks and ranges like 0,128-135 "
                                            "within 0..{}, found {}", text, num_ranks - 1, found));
  };
  auto number = [&](const std::string& s) {
    if (s.empty()) bad("an empty item");
    if (s.find_first_not_of("0123456789") != std::string::npos) bad(fmt::format("'{}'", s));
    // More digits than any rank count has: out of range (and beyond what stoll reads).
    if (s.size() > 12) bad(fmt::format("rank {}", s));
    const int64_t v = std::stoll(s);
    if (v >= num_ranks) bad(fmt::format("rank {}", v));
    return v;
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const size_t dash = item.find('-');
    if (dash == 0) bad(fmt::format("'{}' (ranks are not negative)", item));
    if (dash == std::string::npos) {
      out.push_back(number(item));
    } else {
      const int64_t a = number(item.substr(0, dash)), b = number(item.substr(dash + 1));
      if (b < a) bad(fmt::format("the empty range '{}'", item));
      for (int64_t r = a; r <= b; ++r) out.push_back(r);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {

std::string_view op_kind_name(const ir::OpPayload& p) {
  if (const auto* c = std::get_if<ir::Comm>(&p)) return ir::to_string(c->kind);
  return ir::to_string(ir::kind_of(p));
}

}  // namespace

trace::Timeline TimelineSink::timeline(const std::string& mode) const {
  std::vector<sim::OpRecord> recs = records_;
  std::sort(recs.begin(), recs.end(), [](const sim::OpRecord& a, const sim::OpRecord& b) {
    return std::tie(a.rank, a.stream, a.start_ns, a.op) < std::tie(b.rank, b.stream, b.start_ns, b.op);
  });
  trace::Timeline tl;
  tl.metadata.scenario = program_.scenario().name;
  tl.metadata.source = trace::TraceSource::Sim;
  tl.metadata.version = TANDEM_VERSION;
  tl.metadata.extra["path"] = mode;
  tl.metadata.extra["gpus"] = std::to_string(program_.num_ranks());
  static const char* kStreamNames[] = {"compute", "comm", "p2p"};
  // Sends and receives by (tag, sender, receiver), for flow arrows.
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::pair<int64_t, int64_t>> ends;
  int64_t id = 0;
  for (const sim::OpRecord& r : recs) {
    const ir::RankProgram& rp = program_.roles()[r.role];
    const ir::OpInstance& inst = rp.ops[size_t(r.op)];
    const ir::OpTemplate& t = rp.tmpl(inst);
    if (!tl.process_names.count(int32_t(r.rank)))
      tl.process_names[int32_t(r.rank)] = fmt::format("rank {} (stage {})", r.rank, rp.pp_index);
    const auto tkey = std::make_pair(int32_t(r.rank), int32_t(r.stream));
    if (!tl.thread_names.count(tkey)) tl.thread_names[tkey] = r.stream < 3 ? kStreamNames[r.stream] : "stream";
    const size_t index = tl.events.size();
    trace::Event& e = tl.add_event(t.name(), int32_t(r.rank), int32_t(r.stream), r.start_ns, r.end_ns - r.start_ns,
                                   op_kind_name(t.payload));
    e.id = id++;
    e.stage = rp.pp_index;
    e.layer = t.layer;
    e.mb = inst.mb;
    e.phase = t.phase == ir::Phase::Step ? 0 : ir::phase_letter(t.phase);
    e.sms = r.sms;
    if (const auto* c = std::get_if<ir::Comm>(&t.payload)) {
      e.bytes = double(c->bytes);
      if (c->kind == ir::CommKind::Send || c->kind == ir::CommKind::Recv) {
        const int64_t peer = program_.peer_rank(r.rank, inst);
        const bool send = c->kind == ir::CommKind::Send;
        auto& slot = ends[{inst.tag, send ? r.rank : peer, send ? peer : r.rank}];
        (send ? slot.first : slot.second) = int64_t(index) + 1;
      }
    } else {
      e.flops = ir::op_flops(t.payload);
      e.bytes = ir::op_hbm_bytes(t.payload);
    }
  }
  int64_t flow = 0;
  for (const auto& [key, pair] : ends)
    if (pair.first > 0 && pair.second > 0) tl.add_flow(flow++, uint32_t(pair.first - 1), uint32_t(pair.second - 1));
  return tl;
}

}  // namespace tandem::app
#endif  // TANDEM_SIM
