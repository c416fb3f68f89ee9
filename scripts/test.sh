#!/usr/bin/env bash
#
# make test: install what the tests need (skipping what is already there),
# start a throwaway PostgreSQL cluster, run the Go tests with the race
# detector, and stop the cluster again, also when the tests fail.
#
# Environment:
#   PKG                  packages to test, split on spaces (default ./...)
#   GOTESTFLAGS          extra go test flags, split on spaces (e.g. "-run TestX -v")
#   ESTATE_TEST_PG_PORT  port of the test cluster (default 55432)
#   ESTATE_STRICT        1 (default): a test whose component is missing fails
#   ESTATE_SOAK          how long the load and soak test of `estate up` runs
#                        (default 60s; 0 leaves it out); it runs after the
#                        other tests, without the race detector
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

read -r -a packages <<<"${PKG:-./...}"
read -r -a extra_flags <<<"${GOTESTFLAGS:-}"

setup_started=$SECONDS
ensure_test_deps

# The throwaway PostgreSQL cluster; stopped again when this script exits,
# also on failure or interrupt.
pg_start_for_run

export_test_env
log "setup took $((SECONDS - setup_started))s; running go test -race -timeout 30m ${packages[*]} ${extra_flags[*]}"

# go test's own summary is the last output of this script; its exit status is
# the script's (set -e plus the EXIT trap, which keeps the status).
soak=${ESTATE_SOAK:-60s}
ESTATE_SOAK= go test -race -timeout 30m "${extra_flags[@]}" "${packages[@]}"

# The load and soak test (cmd/estate TestLoadSoak): 1,000 req/s against
# `estate up` for $ESTATE_SOAK. Not under -race, whose slowdown would be
# what it measured; run when every package is tested, or when asked for.
if [[ "$soak" != 0 && ( -z "${PKG:-}" || "${PKG}" == "./..." || -n "${ESTATE_SOAK:-}" ) ]]; then
	log "load and soak test of estate up for $soak (without -race)"
	ESTATE_SOAK=$soak go test -count=1 -timeout 30m -run '^TestLoadSoak$' -v ./cmd/estate/ | grep -v '^=== \(RUN\|PAUSE\|CONT\)'
fi
