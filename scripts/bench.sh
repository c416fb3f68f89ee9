#!/usr/bin/env bash
#
# make bench: run the Go benchmarks six times each with the same components
# as the tests, save the raw output in build/bench.txt and summarise it with
# benchstat. Compare two runs with `bin/benchstat old.txt build/bench.txt`.
#
#   PKG          packages to benchmark, split on spaces (default ./...)
#   BENCH        benchmark name pattern (default .)
#   GOTESTFLAGS  extra go test flags, split on spaces
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

read -r -a packages <<<"${PKG:-./...}"
read -r -a extra_flags <<<"${GOTESTFLAGS:-}"

ensure_test_deps
ensure_bench_tools

pg_start_for_run
export_test_env

# pipefail keeps go test's exit status through tee.
go test -run '^$' -bench "${BENCH:-.}" -benchmem -count 6 -timeout 60m "${extra_flags[@]}" "${packages[@]}" |
	tee "$BUILD_DIR/bench.txt"
"$BIN_DIR/benchstat" build/bench.txt
