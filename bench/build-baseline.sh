#!/usr/bin/env bash
# Builds the Release sluice binary of a git revision, for bench/run.sh's SLUICE_BASELINE.
#
#   bench/build-baseline.sh [REV]        (REV: anything git rev-parse takes; default HEAD)
#
# Checks REV out into a temporary git worktree, build/baseline-<commit>/src (<commit>: the
# abbreviated commit REV names), configures it with
# `cmake -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF` into build/baseline-<commit>/build, builds
# the target sluice_bin, copies the binary to build/baseline-<commit>/sluice and removes the
# worktree again (also when anything fails: no worktree registration is left behind). Prints the
# binary's absolute path on stdout, nothing else; the build's output goes to stderr. A binary
# already built for that commit is reused (delete build/baseline-<commit> to rebuild it).
# BUILD_JOBS (default 2) is the build's -j.
#
#   make bench SLUICE_BASELINE=$(bench/build-baseline.sh HEAD~1)
set -euo pipefail

REV=${1:-HEAD}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

COMMIT=$(git rev-parse --verify --quiet "$REV^{commit}") ||
  { echo "build-baseline: $REV is not a commit" >&2; exit 1; }
SHORT=$(git rev-parse --short=12 "$COMMIT")
DIR=$ROOT/build/baseline-$SHORT
BIN=$DIR/sluice

if [[ -x $BIN ]]; then
  echo "build-baseline: $REV = $SHORT, already built" >&2
  echo "$BIN"
  exit 0
fi

WT=$DIR/src
added=0
child=0
run() {  # run CMD...: output to stderr; in its own process group, in the background, so that a
         # signal to this script is handled at once and stops the whole build with it
  setsid "$@" >&2 &
  child=$!
  wait "$child"
  child=0
}
cleanup() {
  local rc=$?
  if (( child )); then
    kill -TERM -- "-$child" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 -- "-$child" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  if (( added )); then
    git -C "$ROOT" worktree remove --force "$WT" >/dev/null 2>&1 || rm -rf "$WT"
    git -C "$ROOT" worktree prune
  fi
  rm -rf "$DIR/build" || true
  if (( rc != 0 )); then
    rmdir "$DIR" 2>/dev/null || true
    echo "build-baseline: building $REV ($SHORT) failed" >&2
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$DIR"
if [[ -e $WT ]]; then   # left over from an interrupted run that could not clean up
  git worktree remove --force "$WT" >/dev/null 2>&1 || rm -rf "$WT"
  git worktree prune
fi
echo "build-baseline: $REV = $SHORT, worktree $WT" >&2
added=1   # from here on cleanup removes it, even if the add itself fails halfway
git worktree add --detach "$WT" "$COMMIT" >&2
run cmake -S "$WT" -B "$DIR/build" -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=OFF
run cmake --build "$DIR/build" -j "${BUILD_JOBS:-2}" --target sluice_bin
cp "$DIR/build/app/sluice" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "build-baseline: built $BIN" >&2
echo "$BIN"
