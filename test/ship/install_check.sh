#!/usr/bin/env bash
# The install as an embedding project sees it (make install-check; .ci/run):
#   1. a Release build of the library and binary, `cmake --install` into a temporary prefix;
#   2. the installed file list (and nothing under etc/: that is the Debian package's);
#   3. every installed public header compiles on its own;
#   4. examples/embed_api.cpp built by a separate CMake project with find_package(sluice), and
#      again with `pkg-config --cflags --libs sluice`; each build is run in front of the
#      installed `sluice demo` and must answer a local page and a proxied /api request.
#
#   test/ship/install_check.sh [--shared]     (--shared: -DBUILD_SHARED_LIBS=ON)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

shared=OFF
build=build/install-check
if [[ "${1:-}" == "--shared" ]]; then
  shared=ON
  build=build/install-check-shared
fi
jobs=$(nproc)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "install_check: $*" >&2; exit 1; }

echo "== build ($build, BUILD_SHARED_LIBS=$shared) and install into a temporary prefix"
# ccache, when installed (make install-check installs it): the package build compiles the same
# Release objects as the static build here, and takes them from the cache.
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF -DSLUICE_WERROR=OFF \
  -DBUILD_SHARED_LIBS=$shared "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$jobs" --target sluice sluice_bin sluice_man
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
version=$(sed -n 's/^#define SLUICE_VERSION "\(.*\)"$/\1/p' "$build/include/sluice/version.hpp")
[[ -n "$version" ]] || fail "no SLUICE_VERSION in $build/include/sluice/version.hpp"

echo "== installed files"
libdir=$(cd "$prefix" && dirname "$(find . -path '*/cmake/sluice/sluiceConfig.cmake' | head -n1)")
libdir=${libdir%/cmake/sluice}
libdir=${libdir#./}
[[ -n "$libdir" ]] || fail "no sluiceConfig.cmake installed"
if [[ $shared == ON ]]; then lib="$libdir/libsluice.so"; else lib="$libdir/libsluice.a"; fi
expected=(bin/sluice include/sluice/sluice.hpp include/sluice/version.hpp "$lib"
  "$libdir/cmake/sluice/sluiceConfig.cmake" "$libdir/cmake/sluice/sluiceConfigVersion.cmake"
  "$libdir/cmake/sluice/sluiceTargets.cmake" "$libdir/pkgconfig/sluice.pc"
  share/man/man1/sluice.1.gz)
for f in "${expected[@]}"; do
  [[ -e "$prefix/$f" ]] || fail "not installed: $f"
done
for h in include/sluice/*.hpp; do
  [[ -e "$prefix/$h" ]] || fail "public header not installed: $h"
done
[[ ! -e "$prefix/etc" && ! -e "$prefix/lib/systemd" ]] || fail "system files installed outside a package build"
[[ "$("$prefix/bin/sluice" --version)" == "sluice $version" ]] || fail "installed sluice --version"

echo "== every installed header compiles on its own"
# -fsyntax-only: the check is the includes, not code generation. Each header twice, for #pragma once.
ls "$prefix/include/sluice" | xargs -P "$jobs" -I{} sh -c \
  'printf "#include <sluice/{}>\n#include <sluice/{}>\n" | g++ -std=c++20 -fsyntax-only -Wall -Wextra -Werror \
     -DBOOST_ASIO_NO_DEPRECATED -I"$1/include" -x c++ - || { echo "install_check: sluice/{} does not compile on its own" >&2; exit 255; }' \
  _ "$prefix"

echo "== examples/embed_api.cpp with find_package(sluice)"
cmake -S test/ship/consumer -B "$work/consumer" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DSLUICE_EXAMPLE="$root/examples/embed_api.cpp" >/dev/null
cmake --build "$work/consumer" -j "$jobs" >/dev/null

echo "== examples/embed_api.cpp with pkg-config"
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
[[ "$(pkg-config --modversion sluice)" == "$version" ]] || fail "pkg-config --modversion sluice"
# shellcheck disable=SC2046  # pkg-config's output is a list of words
g++ -std=c++20 -O1 "$root/examples/embed_api.cpp" -o "$work/embed_api_pc" \
  $(pkg-config --cflags --libs sluice)
if [[ $shared == ON ]]; then export LD_LIBRARY_PATH="$prefix/$libdir"; fi

# launch LOG CMD...: starts CMD in the background, stderr to LOG (stdout to /dev/null, so that a
# command substitution never waits on it).
launch() {
  local log=$1
  shift
  "$@" >/dev/null 2>"$log" &
  pids+=($!)
}
# port_from LOG PATTERN PID: waits (bounded) for a line of LOG matching PATTERN and prints the
# port at its end.
port_from() {
  local log=$1 pattern=$2 pid=$3 i
  for i in $(seq 100); do
    if grep -qE "$pattern" "$log"; then
      grep -oE "$pattern" "$log" | head -n1 | grep -oE '[0-9]+$'
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "pid $pid exited"; }
    sleep 0.1
  done
  cat "$log" >&2
  fail "no line matching '$pattern' within 10 s"
}

launch "$work/demo.log" "$prefix/bin/sluice" demo --listen 127.0.0.1:0 --access-log off
demo_port=$(port_from "$work/demo.log" 'listening on http://127\.0\.0\.1:[0-9]+' "${pids[-1]}")
for variant in "$work/consumer/embed_api" "$work/embed_api_pc"; do
  launch "$work/embed.log" "$variant" --listen 127.0.0.1:0 --upstream "http://127.0.0.1:$demo_port"
  port=$(port_from "$work/embed.log" 'listening on 127\.0\.0\.1:[0-9]+' "${pids[-1]}")
  page=$(curl -sS --max-time 10 "http://127.0.0.1:$port/hello")
  [[ "$page" == *"Hello from embed_api"* ]] || fail "$variant: local page: $page"
  proxied=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/")
  [[ "$proxied" == 200 ]] || fail "$variant: /api/ through the demo: HTTP $proxied"
  kill -TERM "${pids[-1]}"
  status=0
  wait "${pids[-1]}" || status=$?
  unset 'pids[-1]'
  [[ $status == 0 ]] || fail "$variant: exit status $status after SIGTERM"
  echo "   $(basename "$variant"): local page and /api/ -> sluice demo OK"
done
echo "install_check: ok (sluice $version, BUILD_SHARED_LIBS=$shared, prefix layout $libdir)"
