#!/usr/bin/env bash
# Side-by-side collector benchmark (docs/benchmarks.md, "Collector"): the same
# OTLP/HTTP log load (batches of 100 records of about 200 bytes, WORKERS
# concurrent senders, DURATION) into
#   (a) estate collector, durability fsync, embedded SQLite store as the sink;
#   (b) estate collector, durability fsync, keeping nothing itself and
#       forwarding over OTLP/HTTP (its OTLP exporter) to the load generator's
#       OTLP/HTTP sink;
#   (c) OpenTelemetry Collector 0.165 from bench/otelcol/builder-config.yaml,
#       otlp receiver -> otlp_http exporter with a persistent sending_queue on
#       file_storage (fsync: true) -> the same sink.
# (b) and (c) do the same work. Prints records/s acknowledged and peak RSS
# for each, then how long each took to deliver everything it acknowledged.
#
#   OTELCOL=/path/to/otelcol-bench WORKERS=16 DURATION=30s bash bench/collector.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30s}
WORKERS=${WORKERS:-16}
OTELCOL=${OTELCOL:-bench/otelcol/_build/otelcol-bench}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/estate" ./cmd/estate
go build -o "$work/otlpload" ./bench/otlpload

wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
elapsed() { echo "$(date +%s.%N) - $1" | bc; }
vmhwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# load NAME PID PORT: the load against a collector's OTLP/HTTP port; prints
# the load generator's summary and leaves the acknowledged count in $acked.
load() {
  local out
  out=$("$work/otlpload" -url "http://127.0.0.1:$3" -pid "$2" -workers "$WORKERS" -duration "$DURATION")
  echo "$1: $out"
  acked=$(echo "$out" | sed -n 's/.*acked_records=\([0-9]*\).*/\1/p')
}

# drain_to_sink NAME PID SINK_PORT: waits until the sink counted every
# acknowledged record, and says how long that took and the peak RSS.
drain_to_sink() {
  local start
  start=$(date +%s.%N)
  for _ in $(seq 3000); do
    [ "$(curl -s "http://127.0.0.1:$3/count")" -ge "$acked" ] && break
    sleep 0.2
  done
  echo "$1: sink has $(curl -s "http://127.0.0.1:$3/count") of $acked records $(elapsed "$start") s after the load stopped; vmhwm_kib=$(vmhwm "$2")"
}

# start_sink PORT: a fresh OTLP/HTTP sink.
start_sink() {
  "$work/otlpload" -sink "127.0.0.1:$1" >"$work/sink-$1.log" 2>&1 &
  pids+=("$!")
  wait_port "$1"
}

echo "== (a) estate collector (durability fsync, embedded store)"
"$work/estate" collector --data-dir "$work/estate-data" --log.level warn \
  --collector.otlp.http-listen-addr 127.0.0.1:24318 --collector.otlp.grpc-listen-addr 127.0.0.1:24317 \
  --collector.listen-addr 127.0.0.1:28088 >"$work/estate.log" 2>&1 &
epid=$!; pids+=("$epid")
wait_port 24318
load estate "$epid" 24318
start=$(date +%s.%N)
until [ "$(metric 28088 'estate_collector_queue_records{consumer="local"}')" = "0" ]; do sleep 0.2; done
echo "estate: delivered everything to the store $(elapsed "$start") s after the load stopped; vmhwm_kib=$(vmhwm "$epid")"
kill "$epid"; wait "$epid" || true

echo "== (b) estate collector (durability fsync, OTLP/HTTP exporter to the sink, nothing kept)"
start_sink 24329
"$work/estate" collector --data-dir "$work/estate-fwd" --log.level warn \
  --collector.otlp.http-listen-addr 127.0.0.1:24328 --collector.otlp.grpc-listen-addr 127.0.0.1:24327 \
  --collector.listen-addr 127.0.0.1:28098 --collector.store.signals= \
  --otlp-endpoint http://127.0.0.1:24329 --otlp-protocol http --otlp-compression none >"$work/estate-fwd.log" 2>&1 &
fpid=$!; pids+=("$fpid")
wait_port 24328
load estate-otlp "$fpid" 24328
drain_to_sink estate-otlp "$fpid" 24329
kill "$fpid"; wait "$fpid" || true

echo "== (c) OpenTelemetry Collector 0.165 (file_storage queue, fsync)"
start_sink 24319
OTELCOL_BENCH_DIR="$work/otel-data" OTELCOL_BENCH_PORT=24320 OTELCOL_BENCH_SINK_PORT=24319 \
  "$OTELCOL" --config bench/otelcol/config.yaml >"$work/otelcol.log" 2>&1 &
opid=$!; pids+=("$opid")
wait_port 24320
load otelcol "$opid" 24320
drain_to_sink otelcol "$opid" 24319
