// Reading an op's typed payload back from the args of one of tandem's own trace events: the inverse
// of add_payload_args (program_timeline.h), so a trace alone is enough to calibrate from
// (`tandem calibrate` keys measured times by shape, hw/calibration.h).
#pragma once
#include <optional>
#include <string>

#include "ir/op.h"
#include "trace/timeline.h"

namespace tandem::trace {

// The payload, or a reason it cannot be read: `problem` names the kind ("unknown op kind 'kernel'")
// or the arg that is missing or of the wrong type ("gemm: arg 'k': expected an integer, found nothing").
struct PayloadRead {
  std::optional<ir::OpPayload> payload;
  std::string problem;
};

// The event's payload from its `op` arg and payload args. Communication ops read `size`, `group`,
// `group_size`, `purpose`, `dtype` and `comm_sms`.
PayloadRead payload_from_args(const Timeline& tl, const Event& e);

// The ir op kind named by a trace's `op` arg (communication kinds are all OpKind::Comm), or none.
std::optional<ir::OpKind> ir_op_kind(std::string_view op);
// The communication kind of a trace's `op` arg ("all_to_all" -> AllToAllV), or none.
std::optional<ir::CommKind> ir_comm_kind(std::string_view op);

}  // namespace tandem::trace
