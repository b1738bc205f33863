# shellcheck shell=bash disable=SC2153,SC2154  # sourced: run.sh defines and reads these
# The http2 section of bench/run.sh (sourced: it uses run.sh's helpers, pinning, temp dir and
# cleanup): nginx, HAProxy and sluice serving HTTP/2 to h2load, each proxying the nginx backend's
# 13-byte /small over HTTP/1.1, in the same run (issue 13's first performance row):
#   h2load -n N -c 100 -m 10 (N: quick 50,000, full 200,000) over h2c (prior knowledge) and over
#   TLS h2 (ALPN, one ECDSA P-256 certificate), one worker each on core 0, h2load on core 1;
#   req/s, the proxy's CPU µs per request, and the requests that did not succeed.
# Writes $OUT/results.md.http2 (a table run.sh appends to results.md) and $OUT/http2-raw.csv.
# Environment: BENCH_H2_REQUESTS (N).

H2_RAW=$OUT/http2-raw.csv
echo "metric,target,run,value" > "$H2_RAW"
h2_record() { echo "$1,$2,$3,$4" >> "$H2_RAW"; }
case $MODE in quick) H2_N=50000 ;; *) H2_N=200000 ;; esac
H2_N=${BENCH_H2_REQUESTS:-$H2_N}
command -v h2load > /dev/null || { echo "bench: h2load not found (scripts/install-deps.sh bench)" >&2; exit 1; }

read -r P_H2_NGINX P_H2_NGINX_TLS P_H2_HAPROXY P_H2_HAPROXY_TLS P_H2_SLUICE P_H2_SLUICE_TLS \
  < <(python3 - <<'PY'
import socket
socks = []
for _ in range(6):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)

H2_DIR=$TMP/h2
mkdir -p "$H2_DIR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$H2_DIR/key.pem" -out "$H2_DIR/cert.pem" > "$TMP/log/h2-openssl.out" 2>&1 ||
  { cat "$TMP/log/h2-openssl.out" >&2; echo "bench: http2: cannot make the certificate" >&2; exit 1; }
cat "$H2_DIR/cert.pem" "$H2_DIR/key.pem" > "$H2_DIR/combined.pem"
chmod 644 "$H2_DIR"/*.pem

# nginx: the proxy config with `http2` on its listener (and ssl for the TLS one).
h2_nginx() {  # h2_nginx NAME PORT tls|plain
  local name=$1 port=$2 mode=$3 conf=$TMP/$1.conf
  render "$BENCH/nginx-proxy.conf.in" "$conf.plain" WORKERS=1 PORT="$port"
  if [[ $mode == tls ]]; then
    sed -e "s|^\( *listen 127\.0\.0\.1:$port\) backlog=4096;|\1 ssl http2 backlog=4096; ssl_certificate $H2_DIR/cert.pem; ssl_certificate_key $H2_DIR/key.pem;|" \
      "$conf.plain" > "$conf"
  else
    sed -e "s|^\( *listen 127\.0\.0\.1:$port\) backlog=4096;|\1 http2 backlog=4096;|" "$conf.plain" > "$conf"
  fi
  grep -q "listen 127.0.0.1:$port .*http2" "$conf" || { echo "bench: http2: no http2 listener in $conf" >&2; exit 1; }
  start_nginx "$name" "$conf" "${PROXY_CPU[@]}"
  wait_port "$port" "$name"
  H2_PROCS[$name]=$(nginx_workers "$STARTED")
}
# HAProxy: the proxy config, its bind speaking h2 (proto h2, or alpn h2 over TLS).
h2_haproxy() {  # h2_haproxy NAME PORT tls|plain
  local name=$1 port=$2 mode=$3 conf=$TMP/$1.cfg bind
  render "$BENCH/haproxy.cfg.in" "$conf.plain" WORKERS=1 PORT="$port" NODELAY=""
  if [[ $mode == tls ]]; then bind="ssl crt $H2_DIR/combined.pem alpn h2"; else bind="proto h2"; fi
  sed -e "s|^\( *bind 127\.0\.0\.1:$port\)\$|\1 $bind|" "$conf.plain" > "$conf"
  grep -q "bind 127.0.0.1:$port $bind" "$conf" || { echo "bench: http2: no h2 bind in $conf" >&2; exit 1; }
  start "$name" "${PROXY_CPU[@]}" haproxy -db -f "$conf"
  wait_port "$port" "$name"
  H2_PROCS[$name]=$STARTED
}
h2_sluice() {  # h2_sluice NAME PORT tls|plain
  local name=$1 port=$2 mode=$3 tls=()
  [[ $mode == tls ]] && tls=(--tls-cert "$H2_DIR/cert.pem" --tls-key "$H2_DIR/key.pem")
  start "$name" "${PROXY_CPU[@]}" "$SLUICE" --listen "127.0.0.1:$port" \
    --upstream "http://127.0.0.1:$P_BACKEND" --access-log off --threads 1 "${tls[@]}"
  wait_port "$port" "$name"
  H2_PROCS[$name]=$STARTED
}

declare -A H2_PROCS
declare -A H2_PORT=([nginx-h2c]=$P_H2_NGINX [nginx-tls]=$P_H2_NGINX_TLS
                    [haproxy-h2c]=$P_H2_HAPROXY [haproxy-tls]=$P_H2_HAPROXY_TLS
                    [sluice-h2c]=$P_H2_SLUICE [sluice-tls]=$P_H2_SLUICE_TLS)
h2_nginx nginx-h2c "$P_H2_NGINX" plain;       h2_nginx nginx-tls "$P_H2_NGINX_TLS" tls
h2_haproxy haproxy-h2c "$P_H2_HAPROXY" plain; h2_haproxy haproxy-tls "$P_H2_HAPROXY_TLS" tls
h2_sluice sluice-h2c "$P_H2_SLUICE" plain;    h2_sluice sluice-tls "$P_H2_SLUICE_TLS" tls

h2_run() {  # h2_run NAME RUN N
  local name=$1 run=$2 n=$3 scheme=http out=$TMP/log/h2load.out
  [[ $name == *-tls ]] && scheme=https
  local pids=${H2_PROCS[$name]} c0 c1
  # shellcheck disable=SC2086
  c0=$(cpu_ticks $pids)
  "${LOAD_CPU[@]}" h2load -n "$n" -c 100 -m 10 -t 1 "$scheme://127.0.0.1:${H2_PORT[$name]}/small" \
    > "$out" 2>&1 || true
  # shellcheck disable=SC2086
  c1=$(cpu_ticks $pids)
  local rps ok bad
  rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$out")
  ok=$(awk '/^requests:/ {print $8}' "$out")
  bad=$(awk '/^requests:/ {print $10 + $12 + $14}' "$out")
  [[ -n $rps && -n $ok ]] || { log "http2: $name: h2load said: $(tr '\n' ' ' < "$out")"; return 0; }
  h2_record rps "$name" "$run" "$rps"
  h2_record failed "$name" "$run" "$bad"
  if (( ok > 0 )); then
    h2_record cpu "$name" "$run" \
      "$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$ok" 'BEGIN {printf "%.4f", d * 1e6 / hz / n}')"
  fi
  log "http2: $name run $run: $rps req/s, $ok succeeded, $bad not"
}

H2_ORDER="nginx-h2c haproxy-h2c sluice-h2c nginx-tls haproxy-tls sluice-tls"
for name in $H2_ORDER; do h2_run "$name" 0 $((H2_N / 10)); done   # warm-up
for run in $(seq "$RUNS"); do
  for name in $H2_ORDER; do h2_run "$name" "$run" "$H2_N"; done
done
for name in $H2_ORDER; do
  # shellcheck disable=SC2086
  kill ${H2_PROCS[$name]} 2>/dev/null || true
done

python3 - "$H2_RAW" "$H2_N" "$RUNS" > "$OUT/results.md.http2" <<'PY'
import csv, statistics, sys
raw, n, runs = sys.argv[1], sys.argv[2], sys.argv[3]
vals = {}
for row in csv.DictReader(open(raw)):
    if row["run"] == "0":
        continue
    vals.setdefault((row["metric"], row["target"]), []).append(float(row["value"]))
def med(m, t):
    v = vals.get((m, t))
    return statistics.median(v) if v else None
def fmt(x, f):
    return "—" if x is None else f % x
print("\n### HTTP/2 (h2load -n %s -c 100 -m 10, 13 B through each proxy, median of %s run(s))\n" % (n, runs))
print("| | nginx | HAProxy | sluice | sluice / best peer (target ≤ 0.9) |")
print("|---|---:|---:|---:|---:|")
for mode, label in (("h2c", "h2c (prior knowledge)"), ("tls", "TLS h2 (ALPN)")):
    cpu = [med("cpu", "%s-%s" % (p, mode)) for p in ("nginx", "haproxy", "sluice")]
    rps = [med("rps", "%s-%s" % (p, mode)) for p in ("nginx", "haproxy", "sluice")]
    bad = [sum(vals.get(("failed", "%s-%s" % (p, mode)), [0])) for p in ("nginx", "haproxy", "sluice")]
    peers = [c for c in cpu[:2] if c is not None]
    ratio = "—" if cpu[2] is None or not peers else "%.2f" % (cpu[2] / min(peers))
    print("| %s: CPU µs/req | %s | %s | %s | %s |" % (label, *(fmt(c, "%.2f") for c in cpu), ratio))
    print("| %s: req/s | %s | %s | %s | |" % (label, *(fmt(r, "%.0f") for r in rps)))
    print("| %s: requests not succeeded (target 0) | %d | %d | %d | |" % (label, *bad))
PY
log "http2: $(tr '\n' ' ' < "$OUT/results.md.http2")"
