#!/usr/bin/env bash
# Runs the invoicing API benchmarks of docs/benchmarks.md: GET
# /v1/invoices/{id} and POST /v1/invoices on SQLite and PostgreSQL, and a bare
# chi hello world, each at a fixed rate from the Go load generator on
# loopback. Needs a PostgreSQL superuser DSN in ESTATE_BENCH_POSTGRES_DSN for
# the Postgres rows (skipped without).
#
#   services/invoicing/bench/run.sh [RATE] [DURATION]
set -euo pipefail
RATE=${1:-2000}
DURATION=${2:-20s}
cd "$(dirname "$0")/../../.."
OUT=$(mktemp -d)
go build -o "$OUT/estate" ./cmd/estate
go build -o "$OUT/bench" ./services/invoicing/bench

echo "| scenario | rate (req/s) | p50 | p99 | p99.9 | errors (by status) | server RSS after | server peak RSS |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"

"$OUT/bench" -serve-hello 127.0.0.1:18099 & HELLO=$!
sleep 0.5
"$OUT/bench" -url http://127.0.0.1:18099 -pid $HELLO -scenario hello -label "chi hello world" -rate "$RATE" -duration "$DURATION"
kill -INT $HELLO; wait $HELLO || true

run_estate() { # backend extra-flags...
	local backend=$1; shift
	local dir="$OUT/data-$backend"
	"$OUT/estate" invoicing --data-dir "$dir" --auth.dev --invoicing.listen-addr 127.0.0.1:18081 \
		--invoicing.rate-limit 0 --log.level warn "$@" > "$OUT/$backend.out" 2> "$OUT/$backend.err" & local pid=$!
	for _ in $(seq 50); do curl -sf http://127.0.0.1:18081/readyz > /dev/null && break; sleep 0.2; done
	for sc in get-invoice create-invoice; do
		"$OUT/bench" -url http://127.0.0.1:18081 -data-dir "$dir" -pid $pid -scenario $sc -label "$sc ($backend)" -rate "$RATE" -duration "$DURATION"
	done
	kill -INT $pid; wait $pid || true
}

run_estate sqlite
if [[ -n "${ESTATE_BENCH_POSTGRES_DSN:-}" ]]; then
	DB="estate_bench_$$"
	psql "$ESTATE_BENCH_POSTGRES_DSN" -qc "CREATE DATABASE $DB" > /dev/null
	DSN=$(python3 -c "import sys,urllib.parse as u;p=u.urlparse(sys.argv[1]);print(p._replace(path='/$DB').geturl())" "$ESTATE_BENCH_POSTGRES_DSN")
	run_estate postgres --invoicing.postgres-dsn "$DSN"
	psql "$ESTATE_BENCH_POSTGRES_DSN" -qc "DROP DATABASE $DB WITH (FORCE)" > /dev/null
fi
rm -rf "$OUT"
