// Known answers for the allocs/op column: an empty loop allocates nothing (so the framework's own
// bookkeeping is not counted), a 100-char std::string is exactly one allocation of 101 bytes.
// Either benchmark reports an error instead of a row if the count is off.
#include <benchmark/benchmark.h>

#include <string>

#include "alloc_counter.hpp"

namespace {

using sluice_bench::alloc_stats;

void BM_Sanity_EmptyLoop(benchmark::State& state) {
  const auto before = alloc_stats();
  sluice_bench::AllocCounter allocs;
  for (auto _ : state)
    benchmark::ClobberMemory();
  const auto after = alloc_stats();
  allocs.report(state);
  if (after.allocs != before.allocs) state.SkipWithError("an empty loop counted allocations");
}
BENCHMARK(BM_Sanity_EmptyLoop);

void BM_Sanity_String100(benchmark::State& state) {
  const auto before = alloc_stats();
  sluice_bench::AllocCounter allocs;
  for (auto _ : state) {
    std::string s(100, 'x');
    benchmark::DoNotOptimize(s);
    benchmark::ClobberMemory();
  }
  const auto after = alloc_stats();
  allocs.report(state);
  const auto n = static_cast<std::uint64_t>(state.iterations());
  if (after.allocs - before.allocs != n || after.bytes - before.bytes != 101 * n) {
    state.SkipWithError("a 100-char std::string did not count 1 allocation of 101 bytes");
  }
}
BENCHMARK(BM_Sanity_String100);

}  // namespace
