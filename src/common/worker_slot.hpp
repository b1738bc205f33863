#pragma once
// Which metrics shard a thread records into: a Server's worker i records into shard i, every
// other thread into the shared last one (MetricShards::shard_for_this_thread).
#include <limits>

namespace sluice::detail {

inline constexpr unsigned kNoWorkerSlot = std::numeric_limits<unsigned>::max();

// Set once by each worker thread when it starts.
void set_worker_slot(unsigned slot);
unsigned worker_slot();

}  // namespace sluice::detail
