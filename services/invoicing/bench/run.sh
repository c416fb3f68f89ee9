#!/usr/bin/env bash
# Runs the service benchmarks of docs/benchmarks.md, side by side in one
# run: a bare chi hello world, then on SQLite and on PostgreSQL
# GET /v1/invoices/{id}, POST /v1/invoices (two lines), POST
# /v1/invoices/{id}/payments and credit's POST /v1/credit/drawdowns, each
# POST with a fresh Idempotency-Key, each at a fixed rate from the Go load
# generator on loopback. The PostgreSQL rows need a superuser DSN in
# ESTATE_BENCH_POSTGRES_DSN, else ESTATE_TEST_POSTGRES_DSN (the test
# cluster's, build/test.env); without either they are skipped.
#
# Memory is sampled from /proc/PID/status while the load runs (peaks):
# RssAnon (heap, stacks, SQLite's caches) and RssFile (the pages of the
# binary the process has touched) apart. A line per server gives them at
# start, before any load.
#
# The services run from the binary of the services alone (go build -tags
# servicesonly), as their images do; ESTATE_BENCH_TAGS= (empty) measures
# the binary of every target instead.
#
# ESTATE_BENCH_PRIORITY=1 runs the servers and the load generator (not the
# builds) at the highest scheduling priority, which needs root or
# CAP_SYS_NICE: on a host shared with other work, that work then gets
# about 1/88 of the benchmark's share of the cores, which approaches the
# figures of a quiet host. With the kernel's autogroups on
# (/proc/sys/kernel/sched_autogroup_enabled), the share is per session,
# so the script runs in a session of its own (setsid) whose group it
# gives nice -20, and the PostgreSQL server's group the same while it
# runs. (Real-time scheduling is not used: it starves the kernel's own I/O
# threads, and the servers' fsyncs with them.)
# ESTATE_BENCH_SCENARIOS limits the scenarios (e.g. "create-invoice").
#
#   services/invoicing/bench/run.sh [RATE] [DURATION]
set -euo pipefail
if [[ -n ${ESTATE_BENCH_PRIORITY:-} && -z ${ESTATE_BENCH_SESSION:-} ]]; then
	ESTATE_BENCH_SESSION=1 exec setsid --wait "$0" "$@"
fi
RATE=${1:-2000}
DURATION=${2:-20s}
PG=${ESTATE_BENCH_POSTGRES_DSN:-${ESTATE_TEST_POSTGRES_DSN:-}}
cd "$(dirname "$0")/../../.."
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
TAGS=${ESTATE_BENCH_TAGS-servicesonly}
PRIO=()
if [[ -n ${ESTATE_BENCH_PRIORITY:-} ]]; then
	PRIO=(nice -n -20)
	[[ $("${PRIO[@]}" nice) == -20 ]] || { echo "ESTATE_BENCH_PRIORITY needs root or CAP_SYS_NICE" >&2; exit 1; }
	# This session's group, from here on (the builds above ran without).
	if [[ -w /proc/self/autogroup ]]; then echo -20 > /proc/self/autogroup; fi
fi
SCENARIOS=${ESTATE_BENCH_SCENARIOS:-get-invoice create-invoice create-payment create-drawdown}
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }
go build -tags "$TAGS" -o "$OUT/estate" ./cmd/estate
go build -o "$OUT/bench" ./services/invoicing/bench
go build -o "$OUT/estate-all" ./cmd/estate
BENCH="${PRIO[*]} $OUT/bench -rate $RATE -duration $DURATION"

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); build tags: ${TAGS:-none}; priority: $([[ -n ${ESTATE_BENCH_PRIORITY:-} ]] && echo 'nice -20' || echo default)"
echo
echo "| scenario | rate (req/s) | p50 | p99 | p99.9 | errors (by status) | RssAnon peak | RssFile peak | RSS peak |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
STARTS=()

"${PRIO[@]}" "$OUT/bench" -serve-hello 127.0.0.1:18099 & HELLO=$!
sleep 0.5
$BENCH -url http://127.0.0.1:18099 -pid $HELLO -scenario hello -label "chi hello world"
kill -INT $HELLO; wait $HELLO || true

ready() { for _ in $(seq 100); do curl -sf "$1/readyz" > /dev/null && return; sleep 0.2; done; echo "$1 did not come up" >&2; exit 1; }

run_backend() { # backend [invoicing-dsn credit-dsn]
	local backend=$1 dir="$OUT/data-$1" inv=http://127.0.0.1:18081 cred=http://127.0.0.1:18082
	local invflags=() credflags=() creditdb="$OUT/data-$1/credit.db"
	if [[ $# -eq 3 ]]; then
		invflags=(--invoicing.postgres-dsn "$2") credflags=(--credit.postgres-dsn "$3") creditdb=$3
	fi
	"${PRIO[@]}" "$OUT/estate" invoicing --data-dir "$dir" --auth.dev --invoicing.listen-addr 127.0.0.1:18081 \
		--invoicing.rate-limit 0 --log.level warn "${invflags[@]}" > "$OUT/$backend-invoicing.log" 2>&1 & local ipid=$!
	ready $inv
	"${PRIO[@]}" "$OUT/estate" credit --data-dir "$dir" --auth.dev --credit.listen-addr 127.0.0.1:18082 --credit.invoicing-url $inv \
		--credit.rate-limit 0 --log.level warn "${credflags[@]}" > "$OUT/$backend-credit.log" 2>&1 & local cpid=$!
	ready $cred
	STARTS+=("invoicing ($backend) at start: $("$OUT/bench" -memory -pid $ipid)")
	STARTS+=("credit ($backend) at start: $("$OUT/bench" -memory -pid $cpid)")
	for sc in get-invoice create-invoice create-payment; do
		want $sc || continue
		$BENCH -url $inv -data-dir "$dir" -pid $ipid -scenario $sc -label "$sc ($backend)"
	done
	! want create-drawdown || $BENCH -url $inv -credit-url $cred -credit-db "$creditdb" -data-dir "$dir" -pid $cpid -scenario create-drawdown -label "create-drawdown ($backend)"
	kill -INT $cpid $ipid; wait $cpid $ipid || true
}

run_backend sqlite
if [[ -n "$PG" ]]; then
	dsn() { python3 -c "import sys,urllib.parse as u;p=u.urlparse(sys.argv[1]);print(p._replace(path='/'+sys.argv[2]).geturl())" "$PG" "$1"; }
	DB="estate_bench_$$"
	if [[ ${#PRIO[@]} -gt 0 ]]; then
		# The PostgreSQL server shares the host too: its postmaster and the
		# backends it forks (which inherit its priority) run at the
		# benchmark's priority while it runs, and at their own afterwards.
		PGPID=$(head -1 "$(psql "$PG" -Atc 'SHOW data_directory')/postmaster.pid")
		PGNICE=$(awk '{print $NF}' "/proc/$PGPID/autogroup" 2>/dev/null || echo 0)
		renice -n -20 -p "$PGPID" $(pgrep -P "$PGPID") > /dev/null
		[[ ! -w /proc/$PGPID/autogroup ]] || echo -20 > "/proc/$PGPID/autogroup"
		trap 'renice -n 0 -p "$PGPID" $(pgrep -P "$PGPID") > /dev/null; [[ ! -w /proc/$PGPID/autogroup ]] || echo "$PGNICE" > "/proc/$PGPID/autogroup"; rm -rf "$OUT"' EXIT
	fi
	psql "$PG" -qc "CREATE DATABASE ${DB}_invoicing" -c "CREATE DATABASE ${DB}_credit" > /dev/null
	run_backend postgres "$(dsn ${DB}_invoicing)" "$(dsn ${DB}_credit)"
	psql "$PG" -qc "DROP DATABASE ${DB}_invoicing WITH (FORCE)" -c "DROP DATABASE ${DB}_credit WITH (FORCE)" > /dev/null
fi
# The binary of every target, started the same way, for the memory at
# start side by side.
"$OUT/estate-all" invoicing --data-dir "$OUT/data-all" --auth.dev --invoicing.listen-addr 127.0.0.1:18081 \
	--log.level warn > "$OUT/all-invoicing.log" 2>&1 & ALL=$!
ready http://127.0.0.1:18081
STARTS+=("invoicing (sqlite, the binary of every target) at start: $("$OUT/bench" -memory -pid $ALL)")
kill -INT $ALL; wait $ALL || true
echo
printf '%s\n' "${STARTS[@]}"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
