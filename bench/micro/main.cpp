// The micro-benchmark binary's main: checks the allocation counter first (a wrong count would
// make every allocs/op column wrong), then runs Google Benchmark as BENCHMARK_MAIN() does.
#include <benchmark/benchmark.h>

#include <cstdio>

#include "alloc_counter.hpp"

int main(int argc, char** argv) {
  if (!sluice_bench::alloc_counter_self_check()) {
    std::fprintf(stderr, "the allocation counter is wrong; no benchmark was run\n");
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
