#pragma once
// Heap allocation counting for the micro-benchmarks. alloc_counter.cpp replaces every global
// operator new/delete of the benchmark binary (plain, array, sized, aligned, nothrow) with
// malloc/free plus a per-thread count, so any allocation made by sluice, Beast or libstdc++ on
// the benchmark's thread is seen. Counts are per thread: each benchmark runs on one thread.
#include <benchmark/benchmark.h>

#include <cstdint>

namespace sluice_bench {

struct AllocStats {
  std::uint64_t allocs = 0;  // successful operator new calls, every overload
  std::uint64_t bytes = 0;   // bytes requested from those calls
  std::uint64_t frees = 0;   // operator delete calls on non-null pointers
};

// What the calling thread allocated since it started.
AllocStats alloc_stats() noexcept;

// Measures one benchmark's allocations:
//
//   sluice_bench::AllocCounter allocs;
//   for (auto _ : state) { ... }
//   allocs.report(state);   // counters allocs/op and bytes/op (averaged over the iterations)
//
// pause()/resume() exclude set-up work done inside the loop (around PauseTiming/ResumeTiming).
class AllocCounter {
 public:
  AllocCounter() noexcept : start_(alloc_stats()) {}
  void pause() noexcept;
  void resume() noexcept;
  void report(benchmark::State& state) const;

 private:
  AllocStats start_;
  AllocStats paused_at_{};
  AllocStats excluded_{};
};

// Checks the counter against allocations whose count is known (a 100-char std::string is one
// allocation of 101 bytes, a 10-char one none, plus the array/aligned/nothrow overloads).
// Returns false and prints what differed on stderr if any is off.
bool alloc_counter_self_check();

}  // namespace sluice_bench
