// Cost of an op on the host device: the time of the backend's CPU kernel on one core, from the kind's
// rate measured by `tandem probe` (GEMM and attention by FLOPs, quantisation and every other kind by
// the bytes the IR counts) plus the executor's per-op overhead, stretched when the op's thread gets
// less than a whole core (more runnable threads than cores).
#pragma once
#include <cstdint>

#include "hw/cost_model.h"
#include "hw/host_spec.h"
#include "ir/op.h"

namespace tandem::hw {

// Nanoseconds of `op` on one whole core, without contention.
double host_core_ns(const HostSpec& h, const ir::OpPayload& op);

// `share_units`: the part of a core the op's thread gets (kHostShareUnits = a whole core; more does
// not help: a stream's thread runs on one core at a time).
KernelEstimate host_kernel_estimate(const HostSpec& h, const ir::OpPayload& op, int64_t share_units);

}  // namespace tandem::hw
