#!/usr/bin/env bash
# Installs the Debian packages sluice needs to build and test, only those missing.
# Idempotent; runs as root or through sudo. Nothing is downloaded from anywhere but Debian.
#
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh bench      also the load tools and peers (wrk, nginx, haproxy)
#   scripts/install-deps.sh fuzz       also clang 14 + its runtimes (libFuzzer, ASan, UBSan) for `make fuzz`
#   scripts/install-deps.sh lint       also clang-format 14 and clang-tidy 14 (make format, tidy)
#   scripts/install-deps.sh package    also what make package / package-check / install-check use
set -euo pipefail

packages=(
  build-essential cmake make pkg-config
  libboost1.81-dev      # Boost.Asio + Boost.Beast (header-only parts are all sluice uses)
  libcli11-dev          # command line of the sluice binary
  libyaml-cpp-dev       # the fleet configuration file (app/fleet_config.cpp)
  libc-ares-dev         # DNS discovery of the fleet's dns: servers (app/dns_resolver.cpp)
  libssl-dev            # OpenSSL 3: TLS on both sides
  libnghttp2-dev        # HTTP/2 framing, HPACK, flow control (src/http2, src/server/http2_*)
  libjemalloc-dev       # the sluice binary's allocator (app/CMakeLists.txt says why)
  zlib1g-dev libbrotli-dev libzstd-dev   # response compression: gzip, br, zstd (src/proxy/body_encoder.cpp)
  openssl ca-certificates   # the system CA bundle upstreams are verified against; `openssl` CLI in docs
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev
  curl                  # used by the binary's own test and by `make run`'s hints
  libsystemd-dev        # sd_notify: the binary tells a Type=notify systemd unit it is ready
  groff-base            # the man page test renders docs/sluice.1 (test/ship/check_man.sh)
  python3 python3-yaml  # the deploy examples' static check (test/ship/check_deploy.py)
  python3-grpcio        # gRPC end to end through sluice (test/grpc/grpc_probe.py, grpc_test)
)
if [[ "${1:-}" == "bench" ]]; then
  packages+=(wrk nginx-light haproxy gnuplot-nox)   # gnuplot: the CPU chart of bench/chart.sh
  # bench/*.py (flush-delay probe, idle connections, upload sink, report), ps/taskset in run.sh
  packages+=(python3 procps util-linux)
  # bench/tls.sh: the certificate (openssl req), handshakes/s (openssl s_time), s_client checks
  packages+=(openssl)
  # bench/flushdelay.py --accept-encoding: the client decodes zstd and br as it reads
  packages+=(python3-zstandard python3-brotli)
  # bench/http2.sh: h2load
  packages+=(nghttp2-client)
  # bench/http2_streams.sh: the h2c probes' HPACK (bench/h2_wire.py) and the gRPC probe
  # (bench/h2_grpc.py; python3-grpcio is also in the list above, for the tests)
  packages+=(python3-hpack python3-grpcio)
fi
if [[ "${1:-}" == "lint" ]]; then
  packages+=(clang-format-14 clang-tidy-14)
fi
if [[ "${1:-}" == "package" ]]; then
  # dpkg-shlibdeps (CPack's Depends), dpkg-deb, and `file`, which CPack's DEB generator requires
  # for its shlibdeps step; systemd-analyze verify for the unit
  packages+=(dpkg-dev file systemd)
  # make install-check and make package build the same Release objects: ccache compiles them once
  packages+=(ccache)
fi
if [[ "${1:-}" == "fuzz" ]]; then
  packages+=(clang-14 libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  # dpkg-query prints "install ok installed" only for a fully installed package.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then sudo_cmd=(sudo); else
    echo "install-deps: missing ${missing[*]} and not root (no sudo either)" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have empty package lists.
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
