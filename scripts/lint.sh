#!/usr/bin/env bash
#
# make lint: go vet, staticcheck and golangci-lint (configured by
# .golangci.yml) over the main module, test files included. Every linter runs
# even when an earlier one reports problems; the script fails if any did.
#
#   PKG  packages to lint, split on spaces (default ./...)
#
# `scripts/lint.sh fmt` rewrites files with the formatters of .golangci.yml
# (gofmt and goimports) instead.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_build_dir_ignored
ensure_lint_tools

if [[ ${1:-} == fmt ]]; then
	exec "$BIN_DIR/golangci-lint" fmt
fi

read -r -a packages <<<"${PKG:-./...}"
failed=()

log "go vet ${packages[*]}"
go vet "${packages[@]}" || failed+=("go vet")

log "staticcheck ${packages[*]}"
"$BIN_DIR/staticcheck" "${packages[@]}" || failed+=(staticcheck)

log "golangci-lint run ${packages[*]}"
"$BIN_DIR/golangci-lint" run "${packages[@]}" || failed+=(golangci-lint)

if [[ ${#failed[@]} -gt 0 ]]; then
	die "lint failed: ${failed[*]}"
fi
log "lint: no problems found"
