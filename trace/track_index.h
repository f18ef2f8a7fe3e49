// TrackIndex: the events of a Timeline grouped by track (pid, tid), sorted by start and split into
// lanes of non-overlapping events (nested or overlapping slices go to deeper lanes), with each
// track's role (compute, communication, host) and each rank's pipeline stage. Built once per load.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "trace/timeline.h"

namespace tandem::trace {

// Events of one lane: sorted by start, none overlapping, so `ends` is sorted too.
struct Lane {
  std::vector<uint32_t> events;     // indices into Timeline::events
  std::vector<int64_t> starts;      // starts[i] = events[events[i]].start_ns
  std::vector<int64_t> ends;        // ends[i]   = events[events[i]].end_ns()
  // First position whose event ends after t (the first event visible from t on).
  size_t first_ending_after(int64_t t) const;
  // First position whose event starts at or after t.
  size_t first_starting_at_or_after(int64_t t) const;
};

struct Track {
  int32_t pid = 0;
  int32_t tid = 0;
  TrackRole role = TrackRole::Compute;
  std::vector<Lane> lanes;
  size_t event_count = 0;
};

struct TrackIndex {
  std::vector<Track> tracks;          // sorted by (pid, tid)
  std::vector<OpClass> op_classes;    // by op string id of the Timeline
  std::vector<int32_t> ranks;         // distinct pids, sorted
  std::vector<int32_t> rank_stage;    // per entry of `ranks`: smallest stage arg seen, -1 when none

  int32_t stage_of(int32_t pid) const;
  // Index into `tracks`, or -1.
  int64_t find(int32_t pid, int32_t tid) const;
};

// Role of a track: the timeline's track_roles when it states one (a Kineto map); for traces of this
// project (source sim/cpu/cuda) tid 0 is compute and tids 1 and 2 are communication; other tids, and
// every track of other sources, by the class holding most of the track's time (host and annotation
// time: Host; communication over compute: Comm).
TrackIndex build_track_index(const Timeline& tl);

// The class of each op string id (OpClass of the string, Compute for names that are no op kind).
std::vector<OpClass> classify_op_strings(const Timeline& tl);

}  // namespace tandem::trace
