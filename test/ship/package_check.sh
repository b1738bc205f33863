#!/usr/bin/env bash
# The Debian package as an operator gets it (make package-check; .ci/run). After `make package`:
#   1. exactly one build/package/sluice_<version>_<arch>.deb;
#   2. dpkg-deb --info: name, version, architecture, Depends from dpkg-shlibdeps (versioned libc6,
#      libssl3, libsystemd0, libc-ares2 and libyaml-cpp0.7 for --config, zlib1g, libbrotli1 and
#      libzstd1 for response compression, libnghttp2-14 for HTTP/2,
#      libjemalloc2 as the allocator) plus adduser, the conffile and
#      the maintainer scripts;
#   3. dpkg-deb --contents: exactly the expected files, nothing else;
#   4. the binary extracted with dpkg-deb -x runs --version, and every library it needs resolves;
#   5. the unit has what the issue asks for, and `systemd-analyze verify` accepts it silently;
#   6. /etc/default/sluice's SLUICE_OPTS start the extracted binary (on free ports) and stop it.
#
#   test/ship/package_check.sh [PACKAGE_BUILD_DIR]     (default build/package)
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-build/package}
work=$(mktemp -d)
pid=
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "package_check: $*" >&2; exit 1; }

version=$(sed -n 's/^#define SLUICE_VERSION "\(.*\)"$/\1/p' "$dir/include/sluice/version.hpp")
arch=$(dpkg --print-architecture)
deb="$dir/sluice_${version}_${arch}.deb"
[[ -n "$version" ]] || fail "no version in $dir/include/sluice/version.hpp (run make package)"
debs=("$dir"/sluice_*.deb)
[[ -f "$deb" ]] || fail "no $deb (found: ${debs[*]})"
[[ ${#debs[@]} == 1 ]] || fail "more than one package in $dir: ${debs[*]}"

echo "== dpkg-deb --info $deb"
field() { dpkg-deb --field "$deb" "$1"; }
[[ "$(field Package)" == sluice ]] || fail "Package: $(field Package)"
[[ "$(field Version)" == "$version" ]] || fail "Version: $(field Version)"
[[ "$(field Architecture)" == "$arch" ]] || fail "Architecture: $(field Architecture)"
depends=$(field Depends)
echo "   Depends: $depends"
for want in 'adduser' 'libc6 \(>= [0-9.]+\)' 'libssl3( \(>= [^)]+\))?' 'libsystemd0' 'libstdc\+\+6 \(>= [0-9]+\)' \
    'libc-ares2( \(>= [^)]+\))?' 'libyaml-cpp0.7( \(>= [^)]+\))?' \
    'zlib1g( \(>= [^)]+\))?' 'libbrotli1( \(>= [^)]+\))?' 'libzstd1( \(>= [^)]+\))?' 'libnghttp2-14( \(>= [^)]+\))?' \
    'libjemalloc2( \(>= [^)]+\))?'; do
  grep -qE "(^|, )$want(,|$)" <<<"$depends" || fail "Depends lacks $want (dpkg-shlibdeps): $depends"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$work" -f - || fail "control archive"
[[ "$(cat "$work/conffiles")" == "/etc/default/sluice" ]] || fail "conffiles: $(cat "$work/conffiles")"
for script in postinst prerm postrm; do
  [[ -x "$work/$script" ]] || fail "no executable $script"
  sh -n "$work/$script" || fail "$script: syntax"
done
grep -q 'adduser --system' "$work/postinst" || fail "postinst creates no system user"
[[ "$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/modules-load.d/sluice.conf | grep -v '^#')" == tls ]] ||
  fail "modules-load.d/sluice.conf does not load tls"

echo "== dpkg-deb --contents"
expected='./etc/default/sluice
./lib/systemd/system/sluice.service
./usr/bin/sluice
./usr/lib/modules-load.d/sluice.conf
./usr/share/man/man1/sluice.1.gz'
actual=$(dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ { print $6 }' | sort)
if [[ "$actual" != "$expected" ]]; then
  diff <(echo "$expected") <(echo "$actual") >&2 || true
  fail "the package's files differ from the expected list (< expected, > actual)"
fi
dpkg-deb --contents "$deb" | awk '$6 == "./usr/bin/sluice" && $2 != "root/root" { exit 1 }' ||
  fail "/usr/bin/sluice is not owned by root"

echo "== dpkg-deb -x: the binary runs"
root=$work/root
dpkg-deb -x "$deb" "$root"
[[ "$("$root/usr/bin/sluice" --version)" == "sluice $version" ]] || fail "sluice --version"
if ldd "$root/usr/bin/sluice" | grep -q 'not found'; then
  ldd "$root/usr/bin/sluice" >&2
  fail "a library of /usr/bin/sluice is not found"
fi
gzip -t "$root/usr/share/man/man1/sluice.1.gz" || fail "man page is not gzip"

echo "== the unit"
unit=$root/lib/systemd/system/sluice.service
for want in '^Type=notify$' '^User=sluice$' '^AmbientCapabilities=CAP_NET_BIND_SERVICE$' \
  '^ExecStart=/usr/bin/sluice \$SLUICE_OPTS$' '^ExecReload=/bin/kill -HUP \$MAINPID$' \
  '^KillSignal=SIGTERM$' '^NoNewPrivileges=true$' '^ProtectSystem=strict$' '^ProtectHome=true$' \
  '^PrivateTmp=true$' '^LimitNOFILE=[0-9]+$' '^EnvironmentFile=-/etc/default/sluice$' \
  '^RestartPreventExitStatus=2$'; do
  grep -qE "$want" "$unit" || fail "sluice.service lacks a line matching $want"
done
# verify checks that ExecStart's program exists: point it at the extracted binary. --man=no: the
# page is checked by check_man.sh, and `man` may not be installed. Warnings (an unknown key, say)
# exit 0, so any output fails the check too.
mkdir -p "$work/unit"
sed "s|/usr/bin/sluice|$root/usr/bin/sluice|" "$unit" >"$work/unit/sluice.service"
if ! out=$(systemd-analyze verify --man=no "$work/unit/sluice.service" 2>&1) ||
  [[ -n "$out" ]]; then
  echo "$out" >&2
  fail "systemd-analyze verify sluice.service"
fi

echo "== /etc/default/sluice starts sluice"
# shellcheck disable=SC1091  # the package's file
opts=$(. "$root/etc/default/sluice" && echo "$SLUICE_OPTS")
[[ -n "$opts" ]] || fail "/etc/default/sluice sets no SLUICE_OPTS"
# The same flags on free ports: the defaults' own ports may be taken on this machine.
# shellcheck disable=SC2001
test_opts=$(sed -E 's/(--(admin-)?listen) [^ ]+/\1 127.0.0.1:0/g' <<<"$opts")
# shellcheck disable=SC2086  # SLUICE_OPTS is split into words, as systemd does with $SLUICE_OPTS
"$root/usr/bin/sluice" $test_opts >/dev/null 2>"$work/run.log" &
pid=$!
for _ in $(seq 100); do
  grep -q 'sluice: listening on' "$work/run.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/run.log" >&2; fail "sluice \$SLUICE_OPTS exited"; }
  sleep 0.1
done
grep -q 'sluice: listening on' "$work/run.log" || fail "sluice \$SLUICE_OPTS: not listening in 10 s"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[[ $status == 0 ]] || { cat "$work/run.log" >&2; fail "exit status $status after SIGTERM"; }
echo "   $opts"

echo "package_check: ok ($(basename "$deb"))"
