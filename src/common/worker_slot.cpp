#include "common/worker_slot.hpp"

namespace sluice::detail {

namespace {
thread_local unsigned this_thread_slot = kNoWorkerSlot;
}  // namespace

void set_worker_slot(unsigned slot) { this_thread_slot = slot; }
unsigned worker_slot() { return this_thread_slot; }

}  // namespace sluice::detail
