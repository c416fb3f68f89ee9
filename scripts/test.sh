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
go test -race -timeout 30m "${extra_flags[@]}" "${packages[@]}"
