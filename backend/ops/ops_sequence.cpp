// Sequence parallelism's collectives over the TP group (CommGroup::Tensor): the all-gather of a
// sequence-split activation into a TP region (FP8 codes with their 1x128 scales, or BF16 values), the
// reduce-scatter of a region's partial sums onto the split, and their transposes in the backward.
// A rank's split is its tp_index-th block of the micro-batch's rows, so a gather concatenates in group order.
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "backend/ops/ops.h"

namespace tandem::backend {

namespace {

using S = ir::OperandSlot;

std::vector<int> tensor_group(const OpContext& c) {
  std::vector<int> g;
  for (int64_t r : c.rt.program.group_ranks(c.rt.rank, c.op)) g.push_back(int(r));
  return g;
}

// x [rows, cols] of every member, stacked in group order: [members × rows, cols].
Value all_gather_rows(const OpContext& c, const std::vector<int>& group, const Value& x, bool bf16_wire) {
  const size_t g = group.size();
  Value out;
  out.rows = x.rows * int64_t(g);
  if (x.is_fp8()) {
    // Tile1x128 scales are per row: the rows' codes and scales stack as they are.
    const Fp8Matrix& m = x.fp8.at(0);
    if (m.layout != kernels::Fp8ScaleLayout::Tile1x128)
      throw std::logic_error(fmt::format("{}: gathering an FP8 value that is not in 1x128 tiles", c.where()));
    Fp8Matrix all;
    all.rows = out.rows;
    all.cols = m.cols;
    all.layout = m.layout;
    all.codes.resize(m.codes.size() * g);
    all.scales.resize(m.scales.size() * g);
    c.rt.comm->all_gather(group, m.codes.data(), all.codes.data(), m.codes.size(), c.tag(0), c.stream);
    c.rt.comm->all_gather(group, m.scales.data(), all.scales.data(), m.scales.size() * 4, c.tag(1), c.stream);
    c.record().bytes = double((m.codes.size() + m.scales.size() * 4) * (g - 1));
    out.cols = m.cols;
    out.fp8.push_back(std::move(all));
    return out;
  }
  out.cols = x.cols;
  const auto mine = pack_values(x.data, !bf16_wire);
  std::vector<std::byte> all(mine.size() * g);
  c.rt.comm->all_gather(group, mine.data(), all.data(), mine.size(), c.tag(0), c.stream);
  out.data = unpack_values(all, x.data.size() * g, !bf16_wire);
  c.record().bytes = double(mine.size() * (g - 1));
  return out;
}

// The sum over the members of x [members × rows, cols], block j of rows to member j: [rows, cols].
Value reduce_scatter_rows(const OpContext& c, const std::vector<int>& group, const Value& x, bool bf16_wire) {
  const int64_t g = int64_t(group.size());
  if (x.is_fp8() || x.rows % g != 0)
    throw std::logic_error(fmt::format("{}: reduce-scattering {} rows{} over {} ranks", c.where(), x.rows, x.is_fp8() ? " of FP8" : "", g));
  Value out = float_matrix(x.rows / g, x.cols);
  c.rt.comm->reduce_scatter_sum(group, x.data.data(), out.data.data(), out.data.size(), ReduceType::F32, c.tag(0), c.stream);
  // Summed in FP32 in group order; written in the tensor's dtype (BF16 on the wire of the program).
  c.record().bytes = double(out.data.size() * size_t(g - 1) * (bf16_wire ? 2 : 4));
  return out;
}

}  // namespace

// F: {input} -> output (all-gather: [tokens/tp, c] -> [tokens, c]; reduce-scatter the reverse). B: the
// transpose, {output_grad} -> input_grad: a gather's gradient is reduce-scattered, a scatter's gathered.
void run_sequence_comm(const OpContext& c, OpKernels&) {
  const auto& comm = std::get<ir::Comm>(c.t.payload);
  if (comm.group != ir::CommGroup::Tensor || (comm.kind != ir::CommKind::AllGather && comm.kind != ir::CommKind::ReduceScatter))
    throw std::logic_error(fmt::format("{}: not a sequence-parallel all-gather or reduce-scatter", c.where()));
  const bool forward = c.t.phase == ir::Phase::F;
  const int32_t in = c.t.in(forward ? S::Input : S::OutputGrad), out = c.t.out(forward ? S::Output : S::InputGrad);
  const auto group = tensor_group(c);
  const ValuePtr x = c.read(in);
  const bool bf16_wire = !c.exact() && c.info(in).dtype == ir::DType::BF16;
  Value y = comm.kind == ir::CommKind::AllGather ? all_gather_rows(c, group, *x, bf16_wire) : reduce_scatter_rows(c, group, *x, bf16_wire);
  if (y.rows != c.info(out).shape[0])
    throw std::logic_error(fmt::format("{}: {} rows for a tensor of {}", c.where(), y.rows, c.info(out).shape[0]));
  c.write(out, std::move(y));
}

}  // namespace tandem::backend
