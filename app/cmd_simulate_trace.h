// Timeline of a simulated step for `tandem simulate --trace`: collects the executed ops of the
// chosen ranks from the replay and turns them into the trace/ Timeline (pid = rank, tid = stream,
// args op/id/stage/layer/mb/phase/flops/bytes/sms, flows from each send to its receive).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/step_program.h"
#include "sim/simulate.h"
#include "trace/timeline.h"

namespace tandem::app {

class TimelineSink final : public sim::OpSink {
 public:
  explicit TimelineSink(const ir::StepProgram& program) : program_(program) {}
  void record(const sim::OpRecord& r) override { records_.push_back(r); }
  size_t size() const { return records_.size(); }
  // Builds the timeline (records sorted by rank, stream and start for a stable file).
  trace::Timeline timeline(const std::string& mode) const;

 private:
  const ir::StepProgram& program_;
  std::vector<sim::OpRecord> records_;
};

// "all", or a list of ranks and ranges: "0,128-135,2047". Throws std::invalid_argument.
std::vector<int64_t> parse_rank_list(const std::string& text, int64_t num_ranks);

}  // namespace tandem::app
