// Builds the TrackIndex: buckets events by track, sorts each bucket by start (longest first on
// ties so a parent precedes its children), assigns lanes first-fit, and classifies tracks.
#include "trace/track_index.h"

#include <algorithm>
#include <unordered_map>

namespace tandem::trace {

size_t Lane::first_ending_after(int64_t t) const {
  return static_cast<size_t>(std::upper_bound(ends.begin(), ends.end(), t) - ends.begin());
}

size_t Lane::first_starting_at_or_after(int64_t t) const {
  return static_cast<size_t>(std::lower_bound(starts.begin(), starts.end(), t) - starts.begin());
}

int32_t TrackIndex::stage_of(int32_t pid) const {
  auto it = std::lower_bound(ranks.begin(), ranks.end(), pid);
  if (it == ranks.end() || *it != pid) return -1;
  return rank_stage[static_cast<size_t>(it - ranks.begin())];
}

int64_t TrackIndex::find(int32_t pid, int32_t tid) const {
  auto it = std::lower_bound(tracks.begin(), tracks.end(), std::pair{pid, tid},
                             [](const Track& t, std::pair<int32_t, int32_t> k) {
                               return std::pair{t.pid, t.tid} < k;
                             });
  if (it == tracks.end() || it->pid != pid || it->tid != tid) return -1;
  return it - tracks.begin();
}

std::vector<OpClass> classify_op_strings(const Timeline& tl) {
  std::vector<OpClass> out(tl.string_count());
  for (uint32_t i = 0; i < out.size(); ++i) out[i] = op_class(tl.str(i));
  return out;
}

namespace {

TrackRole classify_track(const Timeline& tl, const std::vector<OpClass>& classes, const Track& t) {
  if (auto it = tl.track_roles.find({t.pid, t.tid}); it != tl.track_roles.end()) return it->second;
  const TraceSource src = tl.metadata.source;
  const bool ours = src == TraceSource::Sim || src == TraceSource::Cpu || src == TraceSource::Cuda;
  if (ours && t.tid == kComputeStream) return TrackRole::Compute;
  if (ours && (t.tid == kCommStream || t.tid == kP2PStream)) return TrackRole::Comm;
  int64_t compute = 0, comm = 0, host = 0;
  for (const auto& lane : t.lanes)
    for (uint32_t i : lane.events) {
      const Event& e = tl.events[i];
      switch (classes[e.op]) {
        case OpClass::Compute:
        case OpClass::Optimizer:
        case OpClass::Copy: compute += e.dur_ns; break;
        case OpClass::Comm: comm += e.dur_ns; break;
        case OpClass::Host:
        case OpClass::Annotation: host += e.dur_ns; break;
      }
    }
  if (host > compute + comm) return TrackRole::Host;
  if (comm > compute) return TrackRole::Comm;
  return TrackRole::Compute;
}

}  // namespace

TrackIndex build_track_index(const Timeline& tl) {
  TrackIndex idx;
  idx.op_classes = classify_op_strings(tl);
  const auto& evs = tl.events;

  // Bucket event indices by track.
  std::unordered_map<uint64_t, uint32_t> slot;
  std::vector<std::vector<uint32_t>> buckets;
  std::vector<std::pair<int32_t, int32_t>> keys;
  std::unordered_map<int32_t, int32_t> stage;
  for (uint32_t i = 0; i < evs.size(); ++i) {
    const Event& e = evs[i];
    const uint64_t k = (uint64_t{static_cast<uint32_t>(e.pid)} << 32) | static_cast<uint32_t>(e.tid);
    auto [it, fresh] = slot.try_emplace(k, static_cast<uint32_t>(buckets.size()));
    if (fresh) {
      buckets.emplace_back();
      keys.emplace_back(e.pid, e.tid);
    }
    buckets[it->second].push_back(i);
    auto [st, new_rank] = stage.try_emplace(e.pid, -1);
    if (e.stage >= 0 && (st->second < 0 || e.stage < st->second)) st->second = e.stage;
  }
  std::vector<uint32_t> order(buckets.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return keys[a] < keys[b]; });

  auto before = [&](uint32_t a, uint32_t b) {
    if (evs[a].start_ns != evs[b].start_ns) return evs[a].start_ns < evs[b].start_ns;
    return evs[a].dur_ns > evs[b].dur_ns;   // parent before child
  };
  idx.tracks.reserve(buckets.size());
  for (uint32_t bi : order) {
    auto& list = buckets[bi];
    if (!std::is_sorted(list.begin(), list.end(), before)) std::stable_sort(list.begin(), list.end(), before);
    Track t;
    t.pid = keys[bi].first;
    t.tid = keys[bi].second;
    t.event_count = list.size();
    std::vector<int64_t> lane_end;   // last end per lane
    for (uint32_t i : list) {
      const Event& e = evs[i];
      size_t lane = 0;
      while (lane < lane_end.size() && lane_end[lane] > e.start_ns) ++lane;
      if (lane == lane_end.size()) {
        lane_end.push_back(0);
        t.lanes.emplace_back();
        t.lanes.back().events.reserve(lane == 0 ? list.size() : 16);
      }
      lane_end[lane] = e.end_ns();
      Lane& l = t.lanes[lane];
      l.events.push_back(i);
      l.starts.push_back(e.start_ns);
      l.ends.push_back(e.end_ns());
    }
    std::vector<uint32_t>().swap(list);
    t.role = classify_track(tl, idx.op_classes, t);
    idx.tracks.push_back(std::move(t));
  }
  for (const auto& [pid, s] : stage) idx.ranks.push_back(pid);
  std::sort(idx.ranks.begin(), idx.ranks.end());
  for (int32_t pid : idx.ranks) idx.rank_stage.push_back(stage[pid]);
  return idx;
}

}  // namespace tandem::trace
