#!/usr/bin/env bash
# Fuzzes every reader of users' input (fuzz/, docs/robustness.md): builds the libFuzzer targets with clang
# in build-fuzz, makes each one's seed corpus from the repo's own files (and traces, token files and a
# tokenizer written by the sanitized tools), then runs each target for SECONDS_PER_TARGET seconds
# (default 10) or RUNS inputs (default: no bound), whichever ends first.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [RUNS]
# Environment: TANDEM_FUZZ_BUILD_DIR (default build-fuzz), TANDEM_FUZZ_TARGETS ("trace checkpoint": a
# subset), TANDEM_FUZZ_RSS_MB (default 2048), TANDEM_FUZZ_TIMEOUT_S (one input's limit, default 10),
# TANDEM_JOBS (build jobs). Exit 1 when any target has a finding (crash, sanitizer report, leak,
# undocumented exception, input over the time or memory limit): its reproducer lies in
# BUILD/fuzz-findings/. Exit 0, saying why, when clang or libFuzzer is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-10}
runs=${2:--1}
build_dir=${TANDEM_FUZZ_BUILD_DIR:-build-fuzz}
rss_mb=${TANDEM_FUZZ_RSS_MB:-2048}
timeout_s=${TANDEM_FUZZ_TIMEOUT_S:-10}
jobs=${TANDEM_JOBS:-$(nproc)}
all_targets=(scenario_file scenario_set calibration expert_load host_spec trace checkpoint token_file tokenizer)
read -r -a targets <<<"${TANDEM_FUZZ_TARGETS:-${all_targets[*]}}"

# clang with libFuzzer's runtime (Debian: clang and libclang-rt-<version>-dev), else nothing to run.
clangxx=${TANDEM_FUZZ_CXX:-clang++}
clangc=${TANDEM_FUZZ_CC:-clang}
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
if ! command -v "$clangxx" >/dev/null 2>&1; then
  echo "fuzz: skipped: $clangxx not found (install clang and libclang-rt-dev to fuzz the readers)"
  exit 0
fi
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe_dir/probe.cpp"
if ! "$clangxx" -fsanitize=fuzzer,address,undefined "$probe_dir/probe.cpp" -o "$probe_dir/probe" 2>"$probe_dir/probe.log"; then
  echo "fuzz: skipped: $clangxx cannot link libFuzzer ($(head -n 1 "$probe_dir/probe.log")); install libclang-rt-dev"
  exit 0
fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$clangxx" \
  -DCMAKE_C_COMPILER="$clangc" -DTANDEM_CUDA=OFF -DTANDEM_VIEWER=OFF -DTANDEM_FUZZ=ON \
  "-DTANDEM_FOLDERS=io;ir;hw;sim;trace;kernels;backend;app" >/dev/null
cmake --build "$build_dir" -j "$jobs" --target fuzz_targets tandem tandem-tokenize

# Seeds: the repo's own files, the hand-written ones of fuzz/seeds/, and files the tools write.
seeds="$build_dir/fuzz-seeds"
rm -rf "$seeds"
for t in "${all_targets[@]}"; do mkdir -p "$seeds/$t"; done
for t in "${all_targets[@]}"; do
  [ -d "fuzz/seeds/$t" ] && cp fuzz/seeds/"$t"/* "$seeds/$t/"
done
cp scenarios/*.json "$seeds/scenario_file/"
for f in scenarios/models/*.json scenarios/clusters/*.json; do cp "$f" "$seeds/scenario_file/part-$(basename "$f")"; done
cp trace/tests/data/*.json "$seeds/trace/"
cp data/corpus/tokenizer.json "$seeds/tokenizer/"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
tandem="$build_dir/app/tandem" tokenize="$build_dir/backend/tandem-tokenize"
work="$build_dir/fuzz-work"
rm -rf "$work" && mkdir -p "$work"
"$tandem" simulate tiny --trace "$seeds/trace/simulate-tiny.json" >/dev/null
# A CPU trace of one step of a narrower tiny model. Its checkpoint (650 KB) is not a seed: inputs that
# large run at ~100 per CPU second; fuzz/seeds/checkpoint holds its metadata with four tensors (1.5 KB).
small_model=(--set model.hidden_size=16 --set model.num_layers=2 --set model.dense_intermediate=16
             --set model.moe_intermediate=8 --set plan.global_batch_seqs=8 --set plan.seq_len=16)
"$tandem" train tiny --steps 1 "${small_model[@]}" --trace "$seeds/trace/train-tiny.json" >/dev/null
head -c 4000 data/corpus/stories.txt >"$work/story.txt"
"$tokenize" train "$work/story.txt" --vocab 300 --out "$seeds/tokenizer/story-300.json" >/dev/null
"$tokenize" encode "$work/story.txt" --tokenizer data/corpus/tokenizer.json --out "$seeds/token_file/story.tok" >/dev/null
"$tokenize" encode "$work/story.txt" --tokenizer "$seeds/tokenizer/story-300.json" --out "$seeds/token_file/story-300.tok" >/dev/null

# One run per target: its growing corpus in BUILD/fuzz-corpus/<target>, its seeds, its dictionary.
declare -A max_len=([checkpoint]=16384)
declare -A dict=([scenario_file]=fuzz/scenario.dict [scenario_set]=fuzz/scenario_set.dict [calibration]=fuzz/scenario.dict
                 [host_spec]=fuzz/scenario.dict
                 [trace]=fuzz/trace.dict [tokenizer]=fuzz/scenario.dict)
findings_dir="$build_dir/fuzz-findings"
mkdir -p "$findings_dir"
failed=()
summary=()
for t in "${targets[@]}"; do
  bin="$build_dir/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: no target named $t (known: ${all_targets[*]})"; exit 2; }
  corpus="$build_dir/fuzz-corpus/$t"
  mkdir -p "$corpus"
  args=(-max_total_time="$seconds" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" -timeout="$timeout_s"
        -artifact_prefix="$findings_dir/$t-" -print_final_stats=1 -max_len="${max_len[$t]:-65536}")
  [ "$runs" -ge 0 ] && args+=(-runs="$runs")
  [ -n "${dict[$t]:-}" ] && args+=(-dict="${dict[$t]}")
  log="$build_dir/fuzz-$t.log"
  echo "fuzz: $t for ${seconds} s (log $log)"
  start=$(date +%s)
  if "$bin" "${args[@]}" "$corpus" "$seeds/$t" >"$log" 2>&1; then status=ok; else status=FINDING; failed+=("$t"); fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  summary+=("$(printf '%-14s %-8s %10s inputs in %4d s, corpus %5d files' "$t" "$status" "${execs:-?}" \
               "$(($(date +%s) - start))" "$(find "$corpus" -type f | wc -l)")")
  if [ "$status" = FINDING ]; then
    { grep -E "FINDING|ERROR|runtime error|Test unit written" "$log" || tail -n 3 "$log"; } | head -n 5 | sed 's/^/  /' || true
  fi
done
rm -rf "$work"
printf '%s\n' "fuzz: summary" "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: findings in ${failed[*]}: reproducers in $findings_dir/ (rerun one with $build_dir/fuzz/fuzz_TARGET FILE)"
  exit 1
fi
echo "fuzz: no findings"
