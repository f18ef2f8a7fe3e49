// Expert parallelism: dispatch (token rows to the ranks holding their experts, FP8 codes + 1x128
// scales or BF16), permutation into expert segments, and combine (expert outputs back to their
// source, summed with the routing weights), with their backward. Rows travel through the EP group's
// all-to-all-v; every row carries (token, slot, local expert). Routing is real: the router decides.
// The all-to-alls run on the rank's communicator; the index, permutations, weighted combine and the
// FP8 cast of the combine backward's rows on the kernel table.
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "backend/ops/moe_state.h"
#include "backend/ops/ops.h"
#include "kernels/common/bf16.h"

namespace tandem::backend {

namespace {

using S = ir::OperandSlot;

struct RowHeader {
  int32_t token, slot, expert;
};

// How a row travels: FP8 (codes + scales), BF16, or FP32 in the exact mode.
enum class Wire : uint8_t { Fp8, Bf16, Fp32 };

size_t payload_bytes(Wire w, int64_t h) {
  switch (w) {
    case Wire::Fp8: return size_t(h) + 4 * size_t((h + 127) / 128);
    case Wire::Bf16: return size_t(h) * 2;
    case Wire::Fp32: return size_t(h) * 4;
  }
  return 0;
}

// Writes row r of v (FP8 or float) in wire format `w` at dst.
void put_row(Wire w, const Value& v, int64_t r, std::byte* dst) {
  if (w == Wire::Fp8) {
    const Fp8Matrix& m = v.fp8.at(0);
    const int64_t kb = (m.cols + 127) / 128;
    std::memcpy(dst, m.codes.data() + r * m.cols, size_t(m.cols));
    std::memcpy(dst + m.cols, m.scales.data() + r * kb, size_t(kb) * 4);
    return;
  }
  const float* src = v.data.data() + r * v.cols;
  if (w == Wire::Fp32) {
    std::memcpy(dst, src, size_t(v.cols) * 4);
  } else {
    for (int64_t j = 0; j < v.cols; ++j) {
      const uint16_t b = kernels::float_to_bf16_bits(src[j]);
      std::memcpy(dst + 2 * j, &b, 2);
    }
  }
}

// Reads a float row from wire format (FP8 rows are decoded with their scales).
void get_row(Wire w, const std::byte* src, int64_t h, float* out) {
  if (w == Wire::Fp8) {
    const int64_t kb = (h + 127) / 128;
    std::vector<uint8_t> codes(static_cast<size_t>(h));
    std::vector<float> scales(static_cast<size_t>(kb));
    std::memcpy(codes.data(), src, size_t(h));
    std::memcpy(scales.data(), src + h, size_t(kb) * 4);
    kernels::dequantize_fp8(codes, scales, 1, h, kernels::Fp8ScaleLayout::Tile1x128, kernels::Fp8Format::E4M3, {out, size_t(h)});
  } else if (w == Wire::Fp32) {
    std::memcpy(out, src, size_t(h) * 4);
  } else {
    for (int64_t j = 0; j < h; ++j) {
      uint16_t b;
      std::memcpy(&b, src + 2 * j, 2);
      out[j] = kernels::bf16_bits_to_float(b);
    }
  }
}

std::vector<int> ep_group(const OpContext& c) {
  std::vector<int> g;
  for (int64_t r : c.rt.program.group_ranks(c.rt.rank, c.op)) g.push_back(int(r));
  return g;
}

// All-to-all-v of `rows_out[j]` rows of `row_bytes` to member j; returns the received bytes (member
// order) given the rows expected from each member.
std::vector<std::byte> exchange(const OpContext& c, const std::vector<int>& group, const std::vector<std::byte>& send,
                                const std::vector<int64_t>& rows_out, const std::vector<int64_t>& rows_in, size_t row_bytes,
                                int64_t sub) {
  const size_t n = group.size();
  std::vector<size_t> soff(n), sbytes(n), roff(n), rbytes(n);
  size_t s = 0, r = 0;
  for (size_t j = 0; j < n; ++j) {
    soff[j] = s;
    sbytes[j] = size_t(rows_out[j]) * row_bytes;
    s += sbytes[j];
    roff[j] = r;
    rbytes[j] = size_t(rows_in[j]) * row_bytes;
    r += rbytes[j];
  }
  std::vector<std::byte> recv(r);
  c.rt.comm->all_to_all_v(group, send.data(), soff, sbytes, recv.data(), roff, rbytes, c.tag(sub), c.stream);
  return recv;
}

Wire wire_of(const OpContext& c, bool fp8_rows) {
  if (c.exact()) return Wire::Fp32;
  return fp8_rows ? Wire::Fp8 : Wire::Bf16;
}

}  // namespace

// DeepEP's handshakes. notify_dispatch: the source builds its permute index from the routing and every
// member learns the rows it will receive from each other (the counts the dispatch sizes its buffers by).
// cached_notify: before an all-to-all that reuses that layout, each member finds the layout it holds;
// before the forward combine, each also tells every other the rows it will send it, and each checks
// them against its counts: the layout is the same on both ends.
void run_notify(const OpContext& c, OpKernels& k) {
  const auto group = ep_group(c);
  const size_t n = group.size();
  auto exchange_counts = [&](const std::vector<int64_t>& out) {
    std::vector<std::byte> send(n * 8);
    std::memcpy(send.data(), out.data(), n * 8);
    const auto got = exchange(c, group, send, std::vector<int64_t>(n, 1), std::vector<int64_t>(n, 1), 8, 0);
    std::vector<int64_t> in(n);
    std::memcpy(in.data(), got.data(), n * 8);
    return in;
  };
  if (c.t.role == ir::OpRole::NotifyDispatch) {
    const auto& model = c.rt.program.model();
    const int64_t local = model.routed_experts / c.rt.program.plan().ep;
    auto s = c.rt.aux<MoeState>(moe_key(c.t.layer, c.mb()), true);
    const ValuePtr route = c.read(c.t.in(S::Routing));
    s->tokens = route->rows;
    s->top_k = int64_t(route->ints.size()) / std::max<int64_t>(1, route->rows);
    s->weight = route->data;
    s->index = k.call(&KernelTable::build_permute_index, route->ints, s->top_k, model.routed_experts);
    s->send_counts.assign(n, 0);
    for (size_t j = 0; j < n; ++j)
      s->send_counts[j] = s->index.expert_offsets[(j + 1) * size_t(local)] - s->index.expert_offsets[j * size_t(local)];
    s->recv_counts = exchange_counts(s->send_counts);
    c.record().bytes = double(n * 8);
    return;
  }
  auto s = c.rt.aux<MoeState>(moe_key(c.t.layer, c.mb()), false);
  // Back from the experts (combine, the dispatch's backward): a member sends what it received.
  const ir::CommPurpose purpose = std::get<ir::Comm>(c.t.payload).purpose;
  const bool to_experts = purpose == ir::CommPurpose::Dispatch || purpose == ir::CommPurpose::CombineGrad;
  const std::vector<int64_t>& out = to_experts ? s->send_counts : s->recv_counts;
  const std::vector<int64_t>& expected = to_experts ? s->recv_counts : s->send_counts;
  if (out.size() != n || expected.size() != n)
    throw std::logic_error(fmt::format("{}: no dispatch layout for this layer and micro-batch", c.where()));
  // NOTE: the backward handshakes check the cached layout on this rank only. Exchanging the counts
  // there too (a rendezvous on the communication stream before each backward all-to-all) changed
  // the tiny model's gradients at the first step (grad norm 0.81741 -> 0.81750), which nothing in
  // the values explains: the CPU executor seems to depend on that stream's timing (docs/backend.md).
  if (!c.forward()) {
    c.record().bytes = 0;
    return;
  }
  const std::vector<int64_t> in = exchange_counts(out);
  for (size_t j = 0; j < n; ++j)
    if (in[j] != expected[j])
      throw std::runtime_error(fmt::format("{}: member {} will send {} rows, the cached layout says {}", c.where(), j, in[j],
                                           expected[j]));
  c.record().bytes = double(n * 8);
}

void run_dispatch(const OpContext& c, OpKernels& k) {
  const auto& model = c.rt.program.model();
  const int64_t local = model.routed_experts / c.rt.program.plan().ep;
  const auto group = ep_group(c);
  const size_t n = group.size();
  auto s = c.rt.aux<MoeState>(moe_key(c.t.layer, c.mb()), false);
  if (c.forward()) {
    const ValuePtr x = c.read(c.t.in(S::Input));       // the FFN norm output, FP8 when the recipe says so
    const int64_t h = x->is_fp8() ? x->fp8[0].cols : x->cols;
    const Wire wire = wire_of(c, x->is_fp8());
    // The index and the counts come from the notify_dispatch before it.
    if (s->send_counts.size() != n || s->recv_counts.size() != n)
      throw std::logic_error(fmt::format("{}: no notify_dispatch before the dispatch", c.where()));
    const size_t row_bytes = sizeof(RowHeader) + payload_bytes(wire, h);
    std::vector<std::byte> send(size_t(s->index.rows) * row_bytes);
    for (int64_t e = 0; e < model.routed_experts; ++e)
      for (int64_t r = s->index.expert_offsets[size_t(e)]; r < s->index.expert_offsets[size_t(e + 1)]; ++r) {
        const int32_t p = s->index.row_source[size_t(r)];
        const RowHeader hdr{int32_t(p / s->top_k), int32_t(p % s->top_k), int32_t(e % local)};
        std::memcpy(send.data() + size_t(r) * row_bytes, &hdr, sizeof hdr);
        put_row(wire, *x, p / s->top_k, send.data() + size_t(r) * row_bytes + sizeof hdr);
      }
    const auto recv = exchange(c, group, send, s->send_counts, s->recv_counts, row_bytes, 1);
    const int64_t rows = int64_t(recv.size() / row_bytes);
    s->recv_token.resize(size_t(rows));
    s->recv_slot.resize(size_t(rows));
    s->recv_expert.resize(size_t(rows));
    Value out;
    out.rows = rows;
    out.cols = h;
    if (wire == Wire::Fp8) {
      Fp8Matrix m;
      m.rows = rows;
      m.cols = h;
      const int64_t kb = (h + 127) / 128;
      m.codes.resize(size_t(rows * h));
      m.scales.resize(size_t(rows * kb));
      for (int64_t r = 0; r < rows; ++r) {
        const std::byte* src = recv.data() + size_t(r) * row_bytes + sizeof(RowHeader);
        std::memcpy(m.codes.data() + r * h, src, size_t(h));
        std::memcpy(m.scales.data() + r * kb, src + h, size_t(kb) * 4);
      }
      out.fp8.push_back(std::move(m));
    } else {
      out.data.resize(size_t(rows * h));
      for (int64_t r = 0; r < rows; ++r)
        get_row(wire, recv.data() + size_t(r) * row_bytes + sizeof(RowHeader), h, out.data.data() + r * h);
    }
    for (int64_t r = 0; r < rows; ++r) {
      RowHeader hdr;
      std::memcpy(&hdr, recv.data() + size_t(r) * row_bytes, sizeof hdr);
      if (hdr.expert < 0 || hdr.expert >= local)
        throw std::runtime_error(fmt::format("{}: received a row for local expert {} of {}", c.where(), hdr.expert, local));
      s->recv_token[size_t(r)] = hdr.token;
      s->recv_slot[size_t(r)] = hdr.slot;
      s->recv_expert[size_t(r)] = hdr.expert;
    }
    c.record().bytes = double(size_t(s->index.rows) * payload_bytes(wire, h));
    c.write(c.t.out(S::Output), std::move(out));
    return;
  }
  // Backward: the gradients of the received rows go back to their sources (BF16) and are summed
  // over the token's slots there (the permutation's backward).
  const ValuePtr g = c.read(c.t.in(S::OutputGrad));
  const int64_t h = g->cols;
  const Wire wire = wire_of(c, false);
  const size_t row_bytes = payload_bytes(wire, h);
  std::vector<std::byte> send(size_t(g->rows) * row_bytes);
  for (int64_t r = 0; r < g->rows; ++r) put_row(wire, *g, r, send.data() + size_t(r) * row_bytes);
  const auto recv = exchange(c, group, send, s->recv_counts, s->send_counts, row_bytes, 2);
  std::vector<float> rows(size_t(s->index.rows * h));
  for (int64_t r = 0; r < s->index.rows; ++r) get_row(wire, recv.data() + size_t(r) * row_bytes, h, rows.data() + r * h);
  Value dx = float_matrix(s->tokens, h);
  k.call(&KernelTable::permute_backward, rows, s->index, h, dx.data);
  c.record().bytes = double(send.size());
  c.write(c.t.out(S::InputGrad), std::move(dx));
}

void run_combine(const OpContext& c, OpKernels& k) {
  const auto group = ep_group(c);
  auto s = c.rt.aux<MoeState>(moe_key(c.t.layer, c.mb()), false);
  if (c.forward()) {
    // Expert outputs (received order) go back to their sources in BF16; the source sums them with
    // the routing weights in slot order (the kernels' unpermute).
    const ValuePtr y = c.read(c.t.in(S::Input));   // the routing comes from the dispatch's state
    const int64_t h = y->cols;
    const Wire wire = wire_of(c, false);
    const size_t row_bytes = payload_bytes(wire, h);
    std::vector<std::byte> send(size_t(y->rows) * row_bytes);
    for (int64_t r = 0; r < y->rows; ++r) put_row(wire, *y, r, send.data() + size_t(r) * row_bytes);
    const auto recv = exchange(c, group, send, s->recv_counts, s->send_counts, row_bytes, 0);
    s->returned.resize(size_t(s->index.rows * h));
    for (int64_t r = 0; r < s->index.rows; ++r) get_row(wire, recv.data() + size_t(r) * row_bytes, h, s->returned.data() + r * h);
    Value out = float_matrix(s->tokens, h);
    k.call(&KernelTable::unpermute_forward, s->returned, s->weight, s->index, h, out.data);
    c.record().bytes = double(send.size());
    c.write(c.t.out(S::Output), std::move(out));
    return;
  }
  // Backward: d weight[t, k] = <dy[t], y[t, k]> stays here (the router's input); w[t, k] · dy[t]
  // goes to the expert (FP8 when the recipe dispatches FP8, as before the down-projection's dgrad).
  const ValuePtr dy = c.read(c.t.in(S::OutputGrad));
  const int64_t h = dy->cols;
  const auto& plan = c.rt.program.plan();
  const bool fp8 = plan.precision.fp8 && plan.precision.fp8_dispatch;
  const Wire wire = wire_of(c, fp8);
  Value dw = float_matrix(s->tokens, s->top_k);
  Value rows = float_matrix(s->index.rows, h);
  k.call(&KernelTable::unpermute_backward, s->returned, s->weight, dy->data, s->index, h, rows.data, dw.data);
  if (wire == Wire::Fp8)
    rows.fp8.push_back(k.call(&KernelTable::quantize_fp8, rows.data, rows.rows, h, plan.precision.power_of_two_scales));
  const size_t row_bytes = payload_bytes(wire, h);
  std::vector<std::byte> send(size_t(rows.rows) * row_bytes);
  for (int64_t r = 0; r < rows.rows; ++r) put_row(wire, rows, r, send.data() + size_t(r) * row_bytes);
  const auto recv = exchange(c, group, send, s->send_counts, s->recv_counts, row_bytes, 1);
  Value g = float_matrix(int64_t(recv.size() / row_bytes), h);
  for (int64_t r = 0; r < g.rows; ++r) get_row(wire, recv.data() + size_t(r) * row_bytes, h, g.data.data() + r * h);
  c.record().bytes = double(send.size());
  c.write(c.t.out(S::RoutingGrad), std::move(dw));   // the routing weights' gradient, for the router's backward
  c.write(c.t.out(S::InputGrad), std::move(g));
}

// Expert side. Permute F: received rows into expert segments (stable, the index with one slot per
// row); Unpermute F: back into received order. Their backward ops move gradients the other way. FP8
// rows move codes and scales alike (a row's scales are per row); the inverse of an FP8 permutation (not
// in the recipe's programs) is a host copy.
void run_permute(const OpContext& c, OpKernels& k) {
  const auto& q = std::get<ir::Permute>(c.t.payload);
  auto s = c.rt.aux<MoeState>(moe_key(c.t.layer, c.mb()), false);
  const ValuePtr x = c.read(c.t.in(c.forward() ? S::Input : S::OutputGrad));
  if (c.t.role == ir::OpRole::Permute && c.forward()) {
    const int64_t local = c.rt.program.model().routed_experts / c.rt.program.plan().ep;
    s->local_index = k.call(&KernelTable::build_permute_index, s->recv_expert, 1, local);
  }
  const kernels::PermuteIndex& idx = s->local_index;
  if (x->rows != idx.rows) throw std::logic_error(fmt::format("{}: {} rows for an index of {}", c.where(), x->rows, idx.rows));
  const bool to_experts = !q.unpermute;
  Value out;
  out.rows = x->rows;
  if (x->is_fp8()) {
    // Expert row r holds received row row_source[r].
    const Fp8Matrix& m = x->fp8[0];
    const size_t kb = size_t((m.cols + 127) / 128), h = size_t(m.cols);
    Fp8Matrix o;
    o.rows = m.rows;
    o.cols = m.cols;
    o.codes.resize(m.codes.size());
    o.scales.resize(m.scales.size());
    if (to_experts) {
      k.call(&KernelTable::permute_forward, m.codes.data(), 1, idx, int64_t(h), o.codes.data());
      k.call(&KernelTable::permute_forward, m.scales.data(), 4, idx, int64_t(kb), o.scales.data());
    } else {
      for (size_t r = 0; r < size_t(idx.rows); ++r) {
        const size_t dst = size_t(idx.row_source[r]);
        std::memcpy(o.codes.data() + dst * h, m.codes.data() + r * h, h);
        std::memcpy(o.scales.data() + dst * kb, m.scales.data() + r * kb, kb * 4);
      }
    }
    out.cols = m.cols;
    out.fp8.push_back(std::move(o));
  } else {
    out.cols = x->cols;
    out.data.resize(x->data.size());
    if (to_experts) {
      k.call(&KernelTable::permute_forward, x->data.data(), 4, idx, x->cols, out.data.data());
    } else {
      // Back to received order: the combine of one slot with weight 1, i.e. out[r] = x[slot_row[r]].
      const std::vector<float> ones(size_t(idx.tokens), 1.0f);
      k.call(&KernelTable::unpermute_forward, x->data, ones, idx, x->cols, out.data);
    }
  }
  c.write(c.t.out(c.forward() ? S::Output : S::InputGrad), std::move(out));
}

}  // namespace tandem::backend
