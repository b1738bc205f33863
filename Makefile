# The two commands of the README, plus a few helpers. Each target installs what is missing first.
#   make run    build Release and run `sluice demo` (an embedded streaming upstream behind the proxy)
#   make test   build Debug with ASan+UBSan and -Werror, run every test through CTest
#   make test-tsan   the same tests built with ThreadSanitizer (g++, build/tsan)
#   make fuzz        the libFuzzer targets of fuzz/ (clang 14), each for FUZZ_SECONDS (default 30)
#   make bench-micro Google Benchmark micro-benchmarks of the per-request functions (ns/op, allocs/op)
#   make format / format-check / tidy   clang-format (applied / checked) and clang-tidy (.clang-tidy)
#   make package     the Debian package build/sluice_<version>_<arch>.deb (CPack)
#   make package-check / install-check   the package's contents and unit; cmake --install +
#                    find_package/pkg-config builds of examples/embed_api.cpp (test/ship/)
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080

.PHONY: run test test-tsan fuzz build deps clean bench bench-quick bench-micro format format-check tidy \
	package package-check install-check

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF
	cmake --build build/release -j $(JOBS)

run: build
	@echo
	@echo "sluice demo is starting on http://$(LISTEN) -- try, in another terminal:"
	@echo "  curl -N http://$(LISTEN)/events      # Server-Sent Events, one a second, through the proxy"
	@echo "  curl -N http://$(LISTEN)/slow        # a slow chunked stream"
	@echo "  curl -o /dev/null http://$(LISTEN)/big"
	@echo "  curl http://$(LISTEN)/"
	@echo "Ctrl-C stops it."
	@echo
	build/release/app/sluice demo --listen $(LISTEN)

test: deps
	cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON -DSLUICE_WERROR=ON
	cmake --build build/asan -j $(JOBS)
	cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure --timeout 120 -j $(JOBS)

# TSan maps its shadow at fixed addresses; with a high vm.mmap_rnd_bits (kernels >= 6.5 often use
# 32) a program can fail to start with "FATAL: ThreadSanitizer: unexpected memory mapping".
# Running without ASLR (setarch -R) avoids that; it is used only where it works (a container's
# seccomp profile may refuse the personality change).
SETARCH_NORAND := $(shell setarch $$(uname -m) -R true >/dev/null 2>&1 && echo "setarch $$(uname -m) -R")

test-tsan: deps
	cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE_THREAD=ON -DSLUICE_WERROR=ON
	cmake --build build/tsan -j $(JOBS)
	cd build/tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4" \
		$(SETARCH_NORAND) ctest --output-on-failure --timeout 300 -j $(JOBS)

# libFuzzer: each target runs for FUZZ_SECONDS on a copy of fuzz/corpus/<target> (the repo's seeds
# are never written). A crash, leak, timeout or failed invariant leaves crash-*/leak-*/timeout-*
# files in build/fuzz/artifacts/<target>/ and fails the target.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := fuzz_request_head fuzz_chunked_body fuzz_response_head fuzz_config fuzz_h2_server
FUZZ_CC ?= clang-14
FUZZ_CXX ?= clang++-14

fuzz:
	@scripts/install-deps.sh fuzz
	CC=$(FUZZ_CC) CXX=$(FUZZ_CXX) cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DSLUICE_FUZZ=ON -DSLUICE_TESTS=OFF
	cmake --build build/fuzz -j $(JOBS) --target $(FUZZ_TARGETS)
	@# Two targets at a time (one per core): the time each fuzzes is unchanged, the wall time halves.
	@run_one() { t=$$1; \
		rm -rf build/fuzz/corpus/$$t build/fuzz/artifacts/$$t; \
		mkdir -p build/fuzz/corpus/$$t build/fuzz/artifacts/$$t; \
		cp fuzz/corpus/$$t/* build/fuzz/corpus/$$t/; \
		build/fuzz/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=build/fuzz/artifacts/$$t/ build/fuzz/corpus/$$t \
			> build/fuzz/$$t.log 2>&1; }; \
	failed=""; set -- $(FUZZ_TARGETS); \
	while [ $$# -gt 0 ]; do \
		batch=""; pids=""; \
		for _ in 1 2; do \
			[ $$# -gt 0 ] || break; \
			echo "== $$1 for $(FUZZ_SECONDS) s (log: build/fuzz/$$1.log)"; \
			run_one $$1 & pids="$$pids $$!"; batch="$$batch $$1"; shift; \
		done; \
		for t in $$batch; do \
			pid=$$(echo $$pids | cut -d' ' -f1); pids=$$(echo $$pids | cut -s -d' ' -f2-); \
			if wait $$pid; then \
				grep -E '^Done [0-9]+ runs' build/fuzz/$$t.log | sed "s/^/$$t: /" || true; \
			else \
				grep -E 'INVARIANT VIOLATED|ERROR: (Address|Leak)Sanitizer|runtime error|deadly signal|Test unit written' \
					build/fuzz/$$t.log | head -n 5; \
				failed="$$failed $$t"; \
			fi; \
		done; \
	done; \
	if [ -n "$$failed" ]; then \
		echo "fuzz: failed:$$failed -- reproducers in build/fuzz/artifacts/<target>/" \
		     "(replay: build/fuzz/fuzz/<target> <file>)"; \
		exit 1; \
	fi

# Side-by-side benchmark against nginx and HAProxy (bench/run.sh, docs/benchmarks.md): installs
# wrk/nginx/haproxy, builds sluice Release, prints the table and writes build/bench/results.{md,csv}.
# `make bench` is the full run (3 runs each; about an hour with every section, BENCH_SECTIONS picks some);
# `make bench-quick` one run each.
bench:
	@scripts/install-deps.sh bench
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF
	cmake --build build/release -j2 --target sluice_bin
	bench/run.sh $(if $(BENCH_MODE),$(BENCH_MODE),full)

bench-quick:
	@$(MAKE) --no-print-directory bench BENCH_MODE=quick

# Micro-benchmarks of the per-request pure functions (bench/micro/, docs/benchmarks-micro.md):
# request validation, hop-by-hop stripping, re-serialization, path join + query merge, flush
# policy; each row has ns/op and the heap allocations per op (allocs/op, bytes/op).
# Release build in build/micro; extra Google Benchmark flags through BENCH_MICRO_ARGS.
BENCH_MICRO_ARGS ?= --benchmark_min_time=0.2 --benchmark_counters_tabular=true

bench-micro:
	@scripts/install-deps.sh bench
	cmake -S . -B build/micro -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF -DSLUICE_BENCH_MICRO=ON
	cmake --build build/micro -j $(JOBS) --target sluice_micro_bench
	build/micro/bench/micro/sluice_micro_bench $(BENCH_MICRO_ARGS)

# Style (.clang-format) and a small set of bug-finding checks (.clang-tidy), clang 14's tools.
FORMAT_FILES = $(shell git ls-files '*.cpp' '*.hpp')

format:
	@scripts/install-deps.sh lint
	clang-format-14 -i --style=file:.clang-format $(FORMAT_FILES)

format-check:
	@scripts/install-deps.sh lint
	clang-format-14 --dry-run --Werror --style=file:.clang-format $(FORMAT_FILES)

# Over the library's sources, with the compile commands of a plain Debug build (build/tidy).
tidy:
	@scripts/install-deps.sh lint
	cmake -S . -B build/tidy -DCMAKE_BUILD_TYPE=Debug -DSLUICE_TESTS=OFF >/dev/null
	run-clang-tidy-14 -p build/tidy -quiet -j $(JOBS) '$(CURDIR)/src/.*\.cpp$$'

# The Debian package (cmake/package.cmake): Release, installed under /usr plus the system files of
# packaging/ (SLUICE_PACKAGE=ON), Depends from dpkg-shlibdeps.
# The package and the install check build the same Release objects (static library and binary);
# through ccache the second build takes them from the first instead of compiling them again.
RELEASE_LAUNCHER = $(shell command -v ccache >/dev/null 2>&1 && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

package:
	@scripts/install-deps.sh package
	cmake -S . -B build/package -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF -DSLUICE_WERROR=OFF \
		-DSLUICE_PACKAGE=ON -DCMAKE_INSTALL_PREFIX=/usr $(RELEASE_LAUNCHER)
	cmake --build build/package -j $(JOBS) --target sluice sluice_bin sluice_man
	rm -f build/package/sluice_*.deb build/sluice_*.deb
	cd build/package && cpack -G DEB
	@# A copy where the README's install command finds it (build/package holds CPack's own).
	cp build/package/sluice_*.deb build/
	@echo "package: $$(ls build/sluice_*.deb) -- install with: sudo apt install ./$$(ls build/sluice_*.deb)"

# The package's metadata, file list, binary and unit; the deploy examples against it.
package-check: package
	test/ship/package_check.sh build/package
	cmp build/package/sluice_*.deb build/sluice_*.deb  # the README's `apt install ./build/sluice_*.deb`
	test/ship/check_deploy.py --package-dir build/package --sluice build/package/app/sluice

# cmake --install into a temporary prefix, then embed_api built through find_package(sluice)
# and through pkg-config; with the static library (the default), then with a shared one.
install-check:
	@scripts/install-deps.sh package
	test/ship/install_check.sh
	test/ship/install_check.sh --shared

clean:
	rm -rf build
