// The StepProgram: shared templates, op counts, per-stream order and dependencies, cross-rank
// matching, a2a bytes by the routing model, and the graph checks for every schedule.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "ir/graph_check.h"
#include "ir/memory.h"
#include "ir/model_stats.h"
#include "ir/step_program.h"

using namespace tandem::ir;

TEST_CASE("ranks of one pipeline position share one program", "[ir][program]") {
  const StepProgram p(load_scenario("deepseek-v3-pretrain"));
  CHECK(p.num_ranks() == 2048);
  CHECK(p.roles().size() == 16);          // one RankProgram per pipeline position, not 2048
  CHECK(&p.program_of(0) == &p.program_of(127));
  CHECK(&p.program_of(128) == &p.program_of(255));
  CHECK(p.coord(200).pp_index == 1);
  CHECK(p.coord(200).dp_index == 72);
  CHECK(p.coord(200).ep_group == 1);      // 72 / 64
  CHECK(p.coord(200).ep_index == 8);
  // DualPipe: rank position 0 holds the first and the last model chunk.
  CHECK(p.program_of(0).chunks == std::vector<int32_t>{0, 15});
  // 61 layers over 16 chunks: 3 on chunks 0, 14, 15 and 4 on the others.
  CHECK(p.chunk_layers()[0] == std::array<int32_t, 2>{0, 3});
  CHECK(p.chunk_layers()[1] == std::array<int32_t, 2>{3, 7});
  CHECK(p.chunk_layers()[15][1] == 61);
  CHECK(p.memory_footprint_bytes() < (size_t(256) << 20));
}

TEST_CASE("expert all-to-all groups and bytes follow the plan and routing", "[ir][program]") {
  const StepProgram p(load_scenario("deepseek-v3-pretrain"));
  const RankProgram& rp = p.program_of(130);
  const OpInstance* dispatch = nullptr;
  for (const auto& op : rp.ops)
    if (rp.tmpl(op).role == OpRole::Dispatch) { dispatch = &op; break; }
  REQUIRE(dispatch != nullptr);
  const Comm& c = std::get<Comm>(rp.tmpl(*dispatch).payload);
  // 4096 tokens x 8 experts x (7168 FP8 bytes + 56 scales x 4 bytes)
  CHECK(c.bytes == 4096LL * 8 * (7168 + 56 * 4));
  CHECK(c.sms == 20);
  const auto group = p.group_ranks(130, *dispatch);
  REQUIRE(group.size() == 64);
  CHECK(group.front() == 128);
  CHECK(group.back() == 191);
  const auto bytes = p.a2a_send_bytes(130, *dispatch);
  REQUIRE(bytes.size() == 64);
  CHECK(bytes[0] == Approx(double(c.bytes) / 64));
  // Zipf routing: expert 0 hottest, so EP rank 0 receives the most.
  const StepProgram z(load_scenario("deepseek-v3-pretrain", {"plan.routing={\"kind\":\"zipf\",\"zipf_exponent\":1.0}"}));
  const auto zb = z.a2a_send_bytes(130, *dispatch);
  CHECK(zb[0] > zb[63] * 10);
  double sum = 0;
  for (double b : zb) sum += b;
  CHECK(sum == Approx(double(c.bytes)));
}

TEST_CASE("a collective's group key names its group: equal keys, equal groups", "[ir][program]") {
  // Every kind of group (expert, data, expert-data, replicated data, tensor, shared weight) on a plan with
  // tp 2 and DualPipe, asked of every rank of two stages and of a third stage's first ranks.
  const StepProgram p(load_scenario("deepseek-v3-pretrain", {"cluster.nodes=16", "plan.pp=4", "plan.tp=2", "plan.ep=8",
                                                              "plan.global_batch_seqs=128", "model.num_layers=8",
                                                              "model.first_dense_layers=1"}));
  std::map<std::tuple<int32_t, int64_t, int64_t>, std::vector<int64_t>> by_key;
  std::set<int32_t> kinds;
  const int64_t per_stage = p.plan().ranks_per_stage();
  std::vector<int64_t> ranks;
  for (int64_t r = 0; r < 2 * per_stage; ++r) ranks.push_back(r);
  for (int64_t r = 2 * per_stage; r < 2 * per_stage + 4; ++r) ranks.push_back(r);
  for (int64_t rank : ranks) {
    const RankProgram& rp = p.program_of(rank);
    for (const OpInstance& op : rp.ops) {
      const auto* c = std::get_if<Comm>(&rp.tmpl(op).payload);
      if (!c) continue;
      const StepProgram::GroupKey k = p.group_key(rank, op);
      if (c->group == CommGroup::Pipeline) {
        CHECK(k.kind == -1);
        continue;
      }
      REQUIRE(k.kind >= 0);
      kinds.insert(k.kind);
      const auto group = p.group_ranks(rank, op);
      // (Not the converse: under DualPipe a stage's two chunks have the same holders, so one data group
      // has two keys, and is derived twice.)
      const auto [it, fresh] = by_key.try_emplace({k.kind, k.a, k.b}, group);
      CHECK(it->second == group);
    }
  }
  CHECK(kinds.size() >= 4);
  CHECK(by_key.size() > 8);
}

TEST_CASE("pipeline sends and receives match across ranks", "[ir][program]") {
  const StepProgram p(load_scenario("tiny"));
  size_t sends = 0;
  for (int64_t r = 0; r < p.num_ranks(); ++r) {
    const RankProgram& rp = p.program_of(r);
    for (const auto& op : rp.ops) {
      const OpTemplate& t = rp.tmpl(op);
      if (t.role != OpRole::PipeSend) continue;
      ++sends;
      const int64_t peer = p.peer_rank(r, op);
      CHECK(p.coord(peer).dp_index == p.coord(r).dp_index);
      bool found = false;
      const RankProgram& pr = p.program_of(peer);
      for (const auto& o : pr.ops)
        if (pr.tmpl(o).role == OpRole::PipeRecv && o.tag == op.tag && p.peer_rank(peer, o) == r) found = true;
      CHECK(found);
    }
  }
  // 1F1B on pp 2 with 4 micro-batches: each of 4 ranks sends 4 activations or 4 gradients.
  CHECK(sends == 16);
}

TEST_CASE("every schedule gives an acyclic, fully matched program", "[ir][program][check]") {
  for (const char* schedule : {"1f1b", "zb1p", "dualpipe", "dualpipev", "interleaved"}) {
    INFO(schedule);
    const StepProgram p(load_scenario("deepseek-v3-pretrain", {std::string("plan.schedule=") + schedule, "plan.pp=4",
                                                                  "cluster.nodes=4", "plan.ep=8", "plan.global_batch_seqs=64",
                                                                  std::string("plan.virtual_stages=") + (schedule == std::string("interleaved") ? "2" : "1")}));
    const GraphCheck c = check_program(p);
    CHECK(c.ok());
    CHECK(c.acyclic);
    CHECK(c.critical_path_ops > 0);
    // Every op instance's dependencies point backwards in issue order.
    for (const auto& rp : p.roles())
      for (size_t i = 0; i < rp.ops.size(); ++i)
        for (int32_t d : rp.deps_of(i)) REQUIRE(size_t(d) < i);
  }
}

TEST_CASE("a program whose receive has no send is reported", "[ir][program][check]") {
  StepProgram p(load_scenario("tiny"));
  auto& rp = const_cast<RankProgram&>(p.program_of(2));   // pipeline position 1
  for (auto& op : rp.ops)
    if (rp.tmpl(op).role == OpRole::PipeRecv) { op.tag += 1; break; }
  const GraphCheck c = check_program(p);
  CHECK_FALSE(c.ok());
  CHECK(c.unmatched_receives == 1);
  CHECK(c.unmatched_sends == 1);
}

TEST_CASE("FP8 recipe: FP8 GEMMs and casts where the recipe puts them, BF16 elsewhere", "[ir][program]") {
  const StepProgram p(load_scenario("deepseek-v3-pretrain"));
  const RankProgram& rp = p.program_of(128);
  int fp8_gemms = 0, bf16_gemms = 0, quant = 0;
  for (const auto& t : rp.templates) {
    if (const Gemm* g = std::get_if<Gemm>(&t.payload)) {
      const bool fp8 = g->a == DType::FP8E4M3;
      if (t.role == OpRole::Gate || t.role == OpRole::Head) CHECK_FALSE(fp8);
      if (t.role == OpRole::QDown || t.role == OpRole::ExpertUp) CHECK(fp8);
      (fp8 ? fp8_gemms : bf16_gemms) += 1;
    }
    if (std::holds_alternative<Quantize>(t.payload)) ++quant;
  }
  CHECK(fp8_gemms > bf16_gemms);
  CHECK(quant > 0);
  const StepProgram bf(load_scenario("deepseek-v3-pretrain", {"plan.precision.fp8=false"}));
  for (const auto& t : bf.program_of(128).templates) CHECK_FALSE(std::holds_alternative<Quantize>(t.payload));
}

TEST_CASE("memory per rank: ZeRO-1 shards the optimizer state, DualPipe doubles parameters", "[ir][memory]") {
  const StepProgram dual(load_scenario("deepseek-v3-pretrain"));
  const StepProgram one(load_scenario("deepseek-v3-pretrain", {"plan.schedule=1f1b"}));
  const auto md = rank_memory(dual), m1 = rank_memory(one);
  // Position 3 holds chunks 3 and 12 under DualPipe (4 + 4 layers) and chunk 3 under 1F1B.
  CHECK(md[3].params == 2 * m1[3].params);
  CHECK(md[3].weight_bytes == 2 * md[3].params);
  CHECK(md[3].gradient_bytes == 4 * md[3].params);
  CHECK(md[3].optimizer_bytes < md[3].weight_bytes / 2);
  // The published plan fits an H800's HBM (84,943,110,144 bytes: ../shared/data/h800-published.json).
  for (const auto& m : md) CHECK(m.total_bytes() < 84943110144LL);
  // 1F1B: position 0 keeps PP micro-batches alive, the last one.
  CHECK(m1[0].peak_live_micro_batches == 16);
  CHECK(m1[15].peak_live_micro_batches == 1);
}

TEST_CASE("interleaved 1F1B: pp × V chunks, chunk c on position c mod pp, sends across the wrap", "[ir][program]") {
  const StepProgram p(load_scenario("tiny", {"plan.schedule=interleaved", "plan.virtual_stages=2"}));
  // 4 layers over 4 chunks; position 0 holds chunks 0 and 2 (embedding and layer 0, layer 2), position 1
  // chunks 1 and 3 (layer 1, layer 3 with the head, loss and MTP module).
  CHECK(p.layer_split().layers == std::vector<int64_t>{1, 1, 1, 1});
  CHECK(p.program_of(0).chunks == std::vector<int32_t>{0, 2});
  CHECK(p.program_of(2).chunks == std::vector<int32_t>{1, 3});
  size_t sends = 0;
  for (int64_t r = 0; r < p.num_ranks(); ++r)
    for (const auto& op : p.program_of(r).ops) sends += p.program_of(r).tmpl(op).role == OpRole::PipeSend;
  // Three chunk boundaries (0|1, 1|2 from position 1 back to 0, 2|3), each an activation and a gradient
  // per micro-batch: 3 × 2 × 4 micro-batches × 2 replicas.
  CHECK(sends == 48);
  // Activations (in units of one chunk's, all chunks here alike but the ends): position 0 keeps 5 chunks
  // alive at its peak, position 1 three (docs/schedules.md).
  const auto mem = rank_memory(p);
  CHECK(mem[0].peak_live_micro_batches == 5);
  CHECK(mem[1].peak_live_micro_batches == 3);
}

TEST_CASE("op FLOPs and bytes are functions of the payload", "[ir][op]") {
  Gemm g{128, 256, 512};
  CHECK(op_flops(g) == 2.0 * 128 * 256 * 512);
  // BF16: A 128x512x2 + B 512x256x2 + C 128x256x2
  CHECK(op_hbm_bytes(g) == 131072.0 + 262144.0 + 65536.0);
  Attention a{1, 4096, 128, 192, 128, true, false};
  const double full = 2.0 * 4096.0 * 4096.0 * 128 * (192 + 128);
  CHECK(op_flops(a, true) == full);
  CHECK(op_flops(a) == Approx(full * 4097.0 / 8192.0));
  a.backward = true;
  CHECK(op_flops(a, true) == 2.0 * 4096.0 * 4096.0 * 128 * (3 * 192 + 2 * 128));
}

TEST_CASE("a dependency cycle is reported as a deadlock, op by op", "[ir][program][check]") {
  StepProgram p(load_scenario("tiny"));
  auto& rp = const_cast<RankProgram&>(p.program_of(0));
  // Make the first op wait for the last op of the same rank: the stream order closes a cycle.
  const int32_t last = int32_t(rp.ops.size() - 1);
  rp.deps.insert(rp.deps.begin(), last);
  for (size_t i = 1; i < rp.dep_offsets.size(); ++i) rp.dep_offsets[i] += 1;
  const GraphCheck c = check_program(p);
  CHECK_FALSE(c.acyclic);
  CHECK_FALSE(c.ok());
  REQUIRE(c.problems.size() > 2);
  CHECK_THAT(c.problems[0], Catch::Contains("deadlock"));
  CHECK_THAT(c.problems[1], Catch::Contains("rank"));
}

TEST_CASE("an op waits for every earlier writer of its inputs, not only the last", "[ir][program]") {
  // A gradient summed from several parts (the FFN norm's output gradient gets one from the dispatch
  // backward on the comm stream and others from the gate and the shared expert on the compute
  // stream) is complete only when all have run. Checked by brute force over the issue order.
  const StepProgram p(load_scenario("deepseek-v3-pretrain", {"plan.pp=4", "cluster.nodes=4", "plan.ep=8",
                                                             "plan.global_batch_seqs=64"}));
  int64_t multi_writer_reads = 0, cross_stream = 0;
  for (const auto& rp : p.roles()) {
    for (size_t i = 0; i < rp.ops.size(); ++i) {
      const auto deps = rp.deps_of(i);
      const OpTemplate& t = rp.tmpl(rp.ops[i]);
      for (const Operand& operand : t.inputs) {
        const int32_t in = operand.tensor;
        const bool step_wide = rp.tensors[size_t(in)].role != TensorRole::Activation;
        std::vector<size_t> writers;
        for (size_t j = 0; j < i; ++j) {
          const OpTemplate& w = rp.tmpl(rp.ops[j]);
          if ((step_wide || rp.ops[j].mb == rp.ops[i].mb) &&
              std::any_of(w.outputs.begin(), w.outputs.end(), [&](const Operand& o) { return o.tensor == in; }))
            writers.push_back(j);
        }
        for (size_t w : writers) {
          INFO(t.name() << " (mb " << rp.ops[i].mb << ") reads " << rp.tensors[size_t(in)].name << " written by "
                        << rp.tmpl(rp.ops[w]).name());
          // Named, or implied: a later op of the writer's in-order stream is named (pipeline
          // transfers complete independently and must be named themselves).
          const bool named = std::find(deps.begin(), deps.end(), int32_t(w)) != deps.end();
          const bool implied = rp.ops[w].stream != Stream::P2P &&
                               std::any_of(deps.begin(), deps.end(), [&](int32_t d) {
                                 return size_t(d) > w && rp.ops[size_t(d)].stream == rp.ops[w].stream;
                               });
          REQUIRE((named || implied));
        }
        if (writers.size() > 1) {
          ++multi_writer_reads;
          for (size_t w : writers) cross_stream += rp.ops[w].stream != rp.ops[i].stream;
        }
      }
    }
  }
  CHECK(multi_writer_reads > 0);
  CHECK(cross_stream > 0);
  // At most one dependency per in-order stream.
  for (const auto& rp : p.roles())
    for (size_t i = 0; i < rp.ops.size(); ++i) {
      int per_stream[kStreams] = {0, 0, 0};
      for (int32_t d : rp.deps_of(i)) per_stream[int(rp.ops[size_t(d)].stream)]++;
      REQUIRE(per_stream[int(Stream::Compute)] <= 1);
      REQUIRE(per_stream[int(Stream::Comm)] <= 1);
    }
}

TEST_CASE("the program's weights add up to the published parameter counts", "[ir][program]") {
  // 1F1B holds each layer once; a rank holds 1/ep of every MoE layer's routed experts, so the
  // model is Σ over stages of (non-expert + ep × expert share). It must equal model_stats: the
  // main model plus the MTP module, whose head is the main model's; its embedding is too, but under
  // 1F1B with pp > 1 the last stage keeps a copy (the first holds the original). The routing biases
  // are state, not weights of the program.
  const Scenario published = load_scenario("deepseek-v3-pretrain", {});
  for (const char* model : {"deepseek-v3-671b", "deepseek-v2-lite"}) {
    INFO(model);
    const bool v3 = std::string(model) == "deepseek-v3-671b";
    auto doc = published.resolved;
    doc["model"] = model;
    const StepProgram p(parse_scenario(doc, "test.json",
                                       {"plan.schedule=1f1b", v3 ? "plan.pp=16" : "plan.pp=3", v3 ? "plan.ep=64" : "plan.ep=8",
                                        v3 ? "cluster.nodes=256" : "cluster.nodes=3", "plan.dp=" + std::string(v3 ? "128" : "8")}));
    int64_t sum = 0;
    for (const auto& rp : p.roles())
      for (size_t i = 0; i < rp.chunks.size(); ++i)
        sum += rp.chunk_param_count[i] - rp.chunk_expert_param_count[i] + rp.chunk_expert_param_count[i] * p.plan().ep;
    const ModelStats s = model_stats(p.model(), p.plan().seq_len);
    const int64_t moe_blocks = p.model().moe_layers() + p.model().mtp_depth;
    const int64_t embedding_copy = p.model().mtp_depth > 0 ? embedding_params(p.model()) : 0;
    CHECK(sum == s.params_total + s.params_mtp + embedding_copy - moe_blocks * p.model().routed_experts);
  }
}

TEST_CASE("every schedule writes an activation before any op of its micro-batch reads it", "[ir][program]") {
  // DualPipe issues a pair part by part (attention, dispatch, MLP, combine); the MTP module's head
  // follows its layer and its projection's backward follows the layer's backward, in every schedule.
  for (const char* schedule : {"1f1b", "zb1p", "dualpipe", "dualpipev", "interleaved"}) {
    INFO(schedule);
    const StepProgram p(load_scenario("deepseek-v3-pretrain", {std::string("plan.schedule=") + schedule, "plan.pp=4",
                                                                  "cluster.nodes=4", "plan.ep=8", "plan.global_batch_seqs=64",
                                                                  std::string("plan.virtual_stages=") + (schedule == std::string("interleaved") ? "2" : "1")}));
    for (const auto& rp : p.roles()) {
      std::set<std::pair<int32_t, int32_t>> written, read_early;   // (tensor, mb)
      for (const auto& op : rp.ops) {
        const OpTemplate& t = rp.tmpl(op);
        for (const Operand& o : t.inputs) {
          const int32_t in = o.tensor;
          if (rp.tensors[size_t(in)].role == TensorRole::Activation && !written.count({in, op.mb}))
            read_early.insert({in, op.mb});
        }
        for (const Operand& o : t.outputs) {
          const int32_t out = o.tensor;
          INFO(t.name() << " (mb " << op.mb << ") writes " << rp.tensors[size_t(out)].name << " after it was read");
          CHECK((rp.tensors[size_t(out)].role != TensorRole::Activation || !read_early.count({out, op.mb})));
          written.insert({out, op.mb});
        }
      }
    }
  }
}

TEST_CASE("tensors have typed identity, unique names, and every input is written before it is read",
          "[ir][program][check]") {
  std::vector<std::vector<std::string>> plans;
  for (const char* schedule : {"1f1b", "zb1p", "dualpipe", "dualpipev"}) plans.push_back({std::string("plan.schedule=") + schedule});
  plans.push_back({"plan.schedule=zb1p", "plan.precision.fp8=false"});
  plans.push_back({"plan.schedule=dualpipev", "model.mtp_depth=0"});
  plans.push_back({"plan.schedule=interleaved", "plan.virtual_stages=2"});
  for (const auto& overrides : plans) {
    INFO(overrides.front());
    const StepProgram p(load_scenario("tiny", overrides));
    const GraphCheck c = check_program(p);
    for (const auto& problem : c.problems) UNSCOPED_INFO(problem);
    CHECK(c.ok());
    CHECK(c.identity_errors == 0);
    CHECK(c.unwritten_reads == 0);
    for (const auto& rp : p.roles())
      for (size_t i = 0; i < rp.tensors.size(); ++i) {
        const TensorInfo& t = rp.tensors[i];
        // Weight gradients name their weight; weights say how they start.
        if (t.role == TensorRole::Gradient && t.gradient_of >= 0) CHECK(rp.tensors[size_t(t.gradient_of)].role == TensorRole::Weight);
        if (t.role == TensorRole::Weight) CHECK(t.init != InitClass::None);
        if (t.gradient_of >= 0) CHECK(t.expert == rp.tensors[size_t(t.gradient_of)].expert);
      }
  }
}

TEST_CASE("SwiGLU's backward reads the input and the output's gradient and writes the input's gradient",
          "[ir][op][swiglu]") {
  // DeepSeek-V3's experts on a middle stage: e = rows x 2048 SwiGLU outputs. Forward: reads gate and up
  // (2e BF16 values, 4e bytes), writes e BF16 (2e bytes). Backward: reads gate, up and dy (6e bytes),
  // writes dgate and dup (2e values, 4e bytes): 10e bytes, 5/3 of the forward's 6e (a recomputation
  // is the forward again).
  const StepProgram p(load_scenario("deepseek-v3-pretrain"));
  int forward = 0, backward = 0, recomputed = 0;
  for (const auto& t : p.program_of(1024).templates) {
    if (t.role != OpRole::ExpertSwiglu) continue;
    const Elementwise& e = std::get<Elementwise>(t.payload);
    REQUIRE(e.elements % 2048 == 0);
    if (t.phase == Phase::F || t.recompute) {
      (t.recompute ? recomputed : forward) += 1;
      CHECK(e.read_bytes == 4 * e.elements);
      CHECK(e.write_bytes == 2 * e.elements);
      continue;
    }
    ++backward;
    const int64_t fwd_elements = e.elements / 2;
    CHECK(e.read_bytes == 6 * fwd_elements);
    CHECK(e.write_bytes == 4 * fwd_elements);
    CHECK(op_hbm_bytes(OpPayload(e)) == 10 * fwd_elements);
  }
  CHECK(forward > 0);
  CHECK(backward == forward);
  CHECK(recomputed == forward);
}
