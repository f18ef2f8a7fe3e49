// The simulator's timeline: an OpSink that keeps the times of the traced ranks' ops and turns them
// into a trace/ Timeline through the one builder the executor uses too (trace/program_timeline.h).
#pragma once
#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

#include "ir/step_program.h"
#include "sim/simulate.h"
#include "trace/program_timeline.h"
#include "trace/timeline.h"

namespace tandem::sim {

class TimelineSink final : public OpSink {
 public:
  explicit TimelineSink(const ir::StepProgram& program) : program_(program) {}
  void record(const OpRecord& r) override;
  size_t size() const { return records_; }
  // The timeline of the recorded ranks (source "sim"; metadata "path" = `mode`).
  trace::Timeline timeline(std::string_view mode) const;

 private:
  const ir::StepProgram& program_;
  std::map<int64_t, std::vector<trace::OpTiming>> ranks_;   // rank -> times by op position
  size_t records_ = 0;
};

}  // namespace tandem::sim
