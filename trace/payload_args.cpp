// The typed payload of one of tandem's own trace events, read back from its args (see payload_args.h):
// each field of the ir payload from the arg add_payload_args wrote for it, checked for presence and type.
#include "trace/payload_args.h"


#include <fmt/format.h>

#include "trace/program_timeline.h"

namespace tandem::trace {
namespace {

// Thrown inside the reader only, turned into PayloadRead::problem.
struct MissingArg {
  std::string what;
};

std::string_view name_of(ir::DType v) { return ir::to_string(v); }
std::string_view name_of(ir::ScaleGranularity v) { return ir::to_string(v); }
std::string_view name_of(ir::ElementwiseKind v) { return ir::to_string(v); }
std::string_view name_of(ir::CommPurpose v) { return ir::to_string(v); }
std::string_view name_of(ir::CommGroup v) { return comm_group_name(v); }
std::string_view name_of(ir::CommKind v) { return ir::to_string(v); }

// The value of a uint8_t-based ir enum whose name is `text`.
template <typename E>
std::optional<E> enum_named(std::string_view text) {
  for (int v = 0; v < 64; ++v)
    if (name_of(E(uint8_t(v))) == text) return E(uint8_t(v));
  return std::nullopt;
}

class ArgReader {
 public:
  ArgReader(const Timeline& tl, const Event& e, std::string_view kind) : tl_(tl), e_(e), kind_(kind) {}

  [[noreturn]] void fail(std::string_view key, std::string_view expected, std::string_view found) const {
    throw MissingArg{fmt::format("{}: arg '{}': expected {}, found {}", kind_, key, expected, found)};
  }
  std::string found_of(const Arg& a) const {
    switch (a.type) {
      case ArgType::Int: return fmt::format("the integer {}", a.int_value);
      case ArgType::Number: return fmt::format("the number {}", a.number);
      case ArgType::Bool: return a.int_value ? "true" : "false";
      case ArgType::Text: return fmt::format("'{}'", tl_.str(uint32_t(a.int_value)));
      case ArgType::Numbers: return "a list of numbers";
    }
    return "?";
  }
  const Arg& need(std::string_view key) const {
    const Arg* a = tl_.find_arg(e_, key);
    if (!a) fail(key, "a value", "nothing");
    return *a;
  }
  int64_t integer(std::string_view key, int64_t min = 0) const {
    const Arg& a = need(key);
    if (a.type != ArgType::Int) fail(key, "an integer", found_of(a));
    if (a.int_value < min) fail(key, fmt::format("an integer >= {}", min), found_of(a));
    return a.int_value;
  }
  double number(std::string_view key) const {
    const Arg& a = need(key);
    if (a.type == ArgType::Int) return double(a.int_value);
    if (a.type != ArgType::Number) fail(key, "a number", found_of(a));
    return a.number;
  }
  bool boolean(std::string_view key, std::optional<bool> fallback = std::nullopt) const {
    const Arg* a = tl_.find_arg(e_, key);
    if (!a && fallback) return *fallback;
    if (!a) fail(key, "true or false", "nothing");
    if (a->type != ArgType::Bool) fail(key, "true or false", found_of(*a));
    return a->int_value != 0;
  }
  std::string_view text(std::string_view key) const {
    const Arg& a = need(key);
    if (a.type != ArgType::Text) fail(key, "a string", found_of(a));
    return tl_.str(uint32_t(a.int_value));
  }
  // The enum value whose name is the arg's text: every value of the enum's range is tried, so kinds
  // added to ir are read without a list here to keep up to date.
  template <typename E>
  E choice(std::string_view key, std::optional<E> fallback = std::nullopt) const {
    if (fallback && !tl_.find_arg(e_, key)) return *fallback;
    const std::string_view t = text(key);
    if (const std::optional<E> v = enum_named<E>(t)) return *v;
    fail(key, "a known name", fmt::format("'{}'", t));
  }
  std::span<const double> numbers(std::string_view key) const {
    const Arg& a = need(key);
    if (a.type != ArgType::Numbers) fail(key, "a list of numbers", found_of(a));
    return tl_.numbers_of(a);
  }

 private:
  const Timeline& tl_;
  const Event& e_;
  std::string_view kind_;
};

ir::OpPayload read_payload(const ArgReader& r, ir::OpKind kind, std::string_view op) {
  switch (kind) {
    case ir::OpKind::Gemm: {
      ir::Gemm g;
      g.m = r.integer("m");
      g.n = r.integer("n");
      g.k = r.integer("k");
      if (r.integer("groups", 1) > 1) {
        for (double rows : r.numbers("group_rows")) g.group_rows.push_back(int64_t(rows));
        g.groups_split_k = r.boolean("groups_split_k", false);
      }
      g.a = r.choice<ir::DType>("a_dtype");
      g.b = r.choice<ir::DType>("b_dtype");
      g.out = r.choice<ir::DType>("out_dtype");
      g.a_scale = r.choice<ir::ScaleGranularity>("a_scale", ir::ScaleGranularity::None);
      g.b_scale = r.choice<ir::ScaleGranularity>("b_scale", ir::ScaleGranularity::None);
      g.accumulate = r.boolean("accumulate", false);
      return g;
    }
    case ir::OpKind::Attention: {
      ir::Attention a;
      a.seqs = r.integer("seqs", 1);
      a.seq_len = r.integer("seq_len", 1);
      a.heads = r.integer("heads", 1);
      a.qk_head_dim = r.integer("qk_head_dim", 1);
      a.v_head_dim = r.integer("v_head_dim", 1);
      a.causal = r.boolean("causal");
      a.backward = r.boolean("backward");
      a.dtype = r.choice<ir::DType>("dtype");
      return a;
    }
    case ir::OpKind::Norm: {
      ir::Norm n;
      n.rows = r.integer("rows");
      n.cols = r.integer("cols");
      n.backward = r.boolean("backward");
      n.dtype = r.choice<ir::DType>("dtype");
      return n;
    }
    case ir::OpKind::Elementwise: {
      ir::Elementwise x;
      x.kind = r.choice<ir::ElementwiseKind>("kind");
      x.elements = r.integer("elements");
      x.read_bytes = r.integer("read_bytes");
      x.write_bytes = r.integer("write_bytes");
      x.flops_per_element = r.number("flops_per_element");
      return x;
    }
    case ir::OpKind::Router: {
      ir::Router x;
      x.tokens = r.integer("tokens");
      x.experts = r.integer("experts", 1);
      x.groups = r.integer("groups", 1);
      x.groups_per_token = r.integer("groups_per_token", 1);
      x.top_k = r.integer("top_k", 1);
      x.backward = r.boolean("backward");
      return x;
    }
    case ir::OpKind::Quantize: {
      ir::Quantize q;
      q.rows = r.integer("rows");
      q.cols = r.integer("cols");
      q.from = r.choice<ir::DType>("from");
      q.to = r.choice<ir::DType>("to");
      q.granularity = r.choice<ir::ScaleGranularity>("granularity");
      q.transpose = r.boolean("transpose");
      return q;
    }
    case ir::OpKind::Permute: {
      ir::Permute p;
      p.tokens = r.integer("tokens");
      p.top_k = r.integer("top_k", 1);
      p.hidden = r.integer("hidden");
      p.dtype = r.choice<ir::DType>("dtype");
      p.unpermute = r.boolean("unpermute");
      return p;
    }
    case ir::OpKind::Comm: {
      ir::Comm c;
      c.kind = *ir_comm_kind(op);
      c.bytes = r.integer("size");
      c.group = r.choice<ir::CommGroup>("group");
      c.group_size = r.integer("group_size", 1);
      c.purpose = r.choice<ir::CommPurpose>("purpose");
      c.dtype = r.choice<ir::DType>("dtype");
      c.sms = r.integer("comm_sms");
      return c;
    }
    case ir::OpKind::Optimizer: {
      ir::Optimizer o;
      o.params = r.integer("params");
      o.master = r.choice<ir::DType>("master");
      o.moments = r.choice<ir::DType>("moments");
      o.weights = r.choice<ir::DType>("weights");
      return o;
    }
  }
  return ir::Gemm{};
}

}  // namespace

std::optional<ir::CommKind> ir_comm_kind(std::string_view op) { return enum_named<ir::CommKind>(op); }

std::optional<ir::OpKind> ir_op_kind(std::string_view op) {
  if (ir_comm_kind(op)) return ir::OpKind::Comm;
  for (ir::OpKind k : {ir::OpKind::Gemm, ir::OpKind::Attention, ir::OpKind::Norm, ir::OpKind::Elementwise,
                       ir::OpKind::Router, ir::OpKind::Quantize, ir::OpKind::Permute, ir::OpKind::Optimizer})
    if (ir::to_string(k) == op) return k;
  return std::nullopt;
}

PayloadRead payload_from_args(const Timeline& tl, const Event& e) {
  const std::string_view op = tl.op_of(e);
  const std::optional<ir::OpKind> kind = ir_op_kind(op);
  if (!kind) return {std::nullopt, fmt::format("unknown op kind '{}'", op)};
  try {
    return {read_payload(ArgReader(tl, e, op), *kind, op), {}};
  } catch (const MissingArg& m) {
    return {std::nullopt, m.what};
  }
}

}  // namespace tandem::trace
