# The two commands of the README, plus a few helpers. Each target installs what is missing first.
#   make run    build Release and run `sluice demo` (an embedded streaming upstream behind the proxy)
#   make test   build Debug with ASan+UBSan and -Werror, run every test through CTest
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080

.PHONY: run test build deps clean bench

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

clean:
	rm -rf build
