#!/usr/bin/env bash
# Side-by-side collector benchmark (docs/benchmarks.md, "Collector"): the same
# OTLP/HTTP log load (batches of 100 records of about 200 bytes, WORKERS
# concurrent senders, DURATION) into
#   (a) estate collector, durability fsync, embedded SQLite store as the sink;
#   (b) OpenTelemetry Collector 0.165 from bench/otelcol/builder-config.yaml,
#       otlp receiver -> otlp_http exporter with a persistent sending_queue on
#       file_storage (fsync: true) -> the load generator's OTLP/HTTP sink.
# Prints records/s acknowledged and peak RSS for both, then how long each took
# to deliver everything it acknowledged.
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

echo "== estate collector (durability fsync, embedded store)"
"$work/estate" collector --data-dir "$work/estate-data" --log.level warn \
  --collector.otlp.http-listen-addr 127.0.0.1:24318 --collector.otlp.grpc-listen-addr 127.0.0.1:24317 \
  --collector.listen-addr 127.0.0.1:28088 >"$work/estate.log" 2>&1 &
epid=$!; pids+=("$epid")
wait_port 24318
"$work/otlpload" -url http://127.0.0.1:24318 -pid "$epid" -workers "$WORKERS" -duration "$DURATION"
start=$(date +%s.%N)
until [ "$(metric 28088 'estate_collector_queue_records{consumer="local"}')" = "0" ]; do sleep 0.2; done
echo "estate: delivered everything to the store $(echo "$(date +%s.%N) - $start" | bc) s after the load stopped; vmhwm_kib=$(awk '/VmHWM/ {print $2}' /proc/$epid/status)"
kill "$epid"; wait "$epid" || true

echo "== OpenTelemetry Collector 0.165 (file_storage queue, fsync)"
"$work/otlpload" -sink 127.0.0.1:24319 >"$work/sink.log" 2>&1 &
spid=$!; pids+=("$spid")
wait_port 24319
OTELCOL_BENCH_DIR="$work/otel-data" OTELCOL_BENCH_PORT=24320 OTELCOL_BENCH_SINK_PORT=24319 \
  "$OTELCOL" --config bench/otelcol/config.yaml >"$work/otelcol.log" 2>&1 &
opid=$!; pids+=("$opid")
wait_port 24320
out=$("$work/otlpload" -url http://127.0.0.1:24320 -pid "$opid" -workers "$WORKERS" -duration "$DURATION")
echo "$out"
acked=$(echo "$out" | sed -n 's/.*acked_records=\([0-9]*\).*/\1/p')
start=$(date +%s.%N)
for _ in $(seq 3000); do
  [ "$(curl -s http://127.0.0.1:24319/count)" -ge "$acked" ] && break
  sleep 0.2
done
echo "otelcol: sink has $(curl -s http://127.0.0.1:24319/count) of $acked records $(echo "$(date +%s.%N) - $start" | bc) s after the load stopped; vmhwm_kib=$(awk '/VmHWM/ {print $2}' /proc/$opid/status)"
