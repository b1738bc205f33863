// Replaces the global allocation functions of the benchmark binary ([new.delete], C++20: the
// plain, array, aligned and nothrow operator new; the plain, sized, aligned and nothrow operator
// delete) with malloc / aligned_alloc / free plus a count in a thread_local. The replacement is
// program-wide, so it also counts what libstdc++.so and libbenchmark.so allocate on the thread.
#include "alloc_counter.hpp"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

namespace sluice_bench {
namespace {

// constinit: no dynamic TLS initialisation, so operator new can touch it at any time.
constinit thread_local AllocStats tl_stats{};

// `align` 0: the default new alignment (malloc's). Returns nullptr only when the new-handler is
// gone; the throwing overloads turn that into std::bad_alloc.
void* allocate(std::size_t size, std::size_t align) {
  const std::size_t requested = size;
  if (size == 0) size = 1;  // a distinct non-null pointer for size 0
  if (align != 0) {
    if (align < sizeof(void*)) align = sizeof(void*);
    size = (size + align - 1) / align * align;  // aligned_alloc wants a multiple of the alignment
  }
  for (;;) {
    void* p = align == 0 ? std::malloc(size) : std::aligned_alloc(align, size);
    if (p != nullptr) {
      ++tl_stats.allocs;
      tl_stats.bytes += requested;
      return p;
    }
    const std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) return nullptr;
    handler();  // frees memory or throws std::bad_alloc
  }
}

void* allocate_or_throw(std::size_t size, std::size_t align) {
  void* p = allocate(size, align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void* allocate_nothrow(std::size_t size, std::size_t align) noexcept {
  try {
    return allocate(size, align);
  } catch (...) {  // a new-handler may throw
    return nullptr;
  }
}

void deallocate(void* p) noexcept {
  if (p == nullptr) return;
  ++tl_stats.frees;
  std::free(p);
}

std::size_t to_size(std::align_val_t a) { return static_cast<std::size_t>(a); }

AllocStats operator-(const AllocStats& a, const AllocStats& b) {
  return {a.allocs - b.allocs, a.bytes - b.bytes, a.frees - b.frees};
}
AllocStats operator+(const AllocStats& a, const AllocStats& b) {
  return {a.allocs + b.allocs, a.bytes + b.bytes, a.frees + b.frees};
}

struct alignas(64) CacheLine {
  char bytes[64];
};

}  // namespace

AllocStats alloc_stats() noexcept { return tl_stats; }

void AllocCounter::pause() noexcept { paused_at_ = alloc_stats(); }

void AllocCounter::resume() noexcept { excluded_ = excluded_ + (alloc_stats() - paused_at_); }

void AllocCounter::report(benchmark::State& state) const {
  const AllocStats used = alloc_stats() - start_ - excluded_;  // before the map inserts below
  state.counters["allocs/op"] =
      benchmark::Counter(static_cast<double>(used.allocs), benchmark::Counter::kAvgIterations);
  state.counters["bytes/op"] =
      benchmark::Counter(static_cast<double>(used.bytes), benchmark::Counter::kAvgIterations);
}

bool alloc_counter_self_check() {
  bool ok = true;
  const auto expect = [&ok](const char* what, const AllocStats& got, std::uint64_t allocs,
                            std::uint64_t bytes, std::uint64_t frees) {
    if (got.allocs == allocs && got.bytes == bytes && got.frees == frees) return;
    std::fprintf(stderr,
                 "alloc counter self-check: %s: %llu allocs / %llu bytes / %llu frees, "
                 "expected %llu / %llu / %llu\n",
                 what, static_cast<unsigned long long>(got.allocs),
                 static_cast<unsigned long long>(got.bytes),
                 static_cast<unsigned long long>(got.frees),
                 static_cast<unsigned long long>(allocs), static_cast<unsigned long long>(bytes),
                 static_cast<unsigned long long>(frees));
    ok = false;
  };

  AllocStats before = alloc_stats();
  {
    std::string s(100, 'x');  // 100 chars + NUL: past the 15-char small-string buffer
    benchmark::DoNotOptimize(s);
  }
  expect("std::string(100, 'x')", alloc_stats() - before, 1, 101, 1);

  before = alloc_stats();
  {
    std::string s(10, 'x');  // fits the small-string buffer
    benchmark::DoNotOptimize(s);
  }
  expect("std::string(10, 'x')", alloc_stats() - before, 0, 0, 0);

  before = alloc_stats();
  {
    int* p = new int[25];
    benchmark::DoNotOptimize(p);
    delete[] p;
  }
  expect("new int[25]", alloc_stats() - before, 1, 100, 1);

  before = alloc_stats();
  {
    auto* p = new CacheLine;  // over-aligned: the align_val_t overloads
    benchmark::DoNotOptimize(p);
    delete p;
  }
  expect("new alignas(64)", alloc_stats() - before, 1, 64, 1);

  before = alloc_stats();
  {
    auto* p = new (std::nothrow) long;
    benchmark::DoNotOptimize(p);
    delete p;
  }
  expect("new (nothrow) long", alloc_stats() - before, 1, sizeof(long), 1);
  return ok;
}

}  // namespace sluice_bench

// The replaceable global allocation and deallocation functions.
void* operator new(std::size_t size) { return sluice_bench::allocate_or_throw(size, 0); }
void* operator new[](std::size_t size) { return sluice_bench::allocate_or_throw(size, 0); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return sluice_bench::allocate_nothrow(size, 0);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return sluice_bench::allocate_nothrow(size, 0);
}
void* operator new(std::size_t size, std::align_val_t align) {
  return sluice_bench::allocate_or_throw(size, sluice_bench::to_size(align));
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return sluice_bench::allocate_or_throw(size, sluice_bench::to_size(align));
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return sluice_bench::allocate_nothrow(size, sluice_bench::to_size(align));
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return sluice_bench::allocate_nothrow(size, sluice_bench::to_size(align));
}

void operator delete(void* p) noexcept { sluice_bench::deallocate(p); }
void operator delete[](void* p) noexcept { sluice_bench::deallocate(p); }
void operator delete(void* p, std::size_t) noexcept { sluice_bench::deallocate(p); }
void operator delete[](void* p, std::size_t) noexcept { sluice_bench::deallocate(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { sluice_bench::deallocate(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { sluice_bench::deallocate(p); }
void operator delete(void* p, std::align_val_t) noexcept { sluice_bench::deallocate(p); }
void operator delete[](void* p, std::align_val_t) noexcept { sluice_bench::deallocate(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  sluice_bench::deallocate(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  sluice_bench::deallocate(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  sluice_bench::deallocate(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  sluice_bench::deallocate(p);
}
