// The simulator's timeline (see timeline_sink.h).
#include "sim/timeline_sink.h"

#include <string>

namespace tandem::sim {

void TimelineSink::record(const OpRecord& r) {
  auto& ops = ranks_[r.rank];
  if (ops.empty()) ops.resize(program_.program_of(r.rank).ops.size());
  trace::OpTiming& t = ops[size_t(r.op)];
  t.start_ns = r.start_ns;
  t.end_ns = r.end_ns;
  t.sms = r.sms;
  ++records_;
}

trace::Timeline TimelineSink::timeline(std::string_view mode) const {
  trace::Timeline tl;
  trace::set_program_metadata(tl, program_, trace::TraceSource::Sim);
  tl.metadata.extra["path"] = std::string(mode);
  trace::ProgramTimelineBuilder builder(tl, program_, 0);
  for (const auto& [rank, ops] : ranks_) builder.add_rank(rank, ops);
  builder.finish();
  return tl;
}

}  // namespace tandem::sim
