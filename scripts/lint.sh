#!/usr/bin/env bash
#
# make lint: go mod tidy (no change allowed), go vet, staticcheck and
# golangci-lint (configured by .golangci.yml, the layering rules included)
# over the main module, test files included, and govulncheck; then Redocly
# (recommended) and Spectral (spectral:oas) over the services' OpenAPI
# documents, where a warning fails too. Every check runs even when an
# earlier one reports problems; the script fails if any did.
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
ensure_vuln_tools

if [[ ${1:-} == fmt ]]; then
	exec "$BIN_DIR/golangci-lint" fmt
fi

read -r -a packages <<<"${PKG:-./...}"
failed=()

log "go mod tidy -diff"
go mod tidy -diff || failed+=("go mod tidy (go.mod or go.sum is not tidy: run go mod tidy)")

log "go vet ${packages[*]}"
go vet "${packages[@]}" || failed+=("go vet")

# The binary of the services alone (cmd/estate/edition_services.go).
log "go vet -tags servicesonly ./cmd/estate"
go vet -tags servicesonly ./cmd/estate || failed+=("go vet -tags servicesonly")

log "staticcheck ${packages[*]}"
"$BIN_DIR/staticcheck" "${packages[@]}" || failed+=(staticcheck)

log "golangci-lint run ${packages[*]}"
"$BIN_DIR/golangci-lint" run "${packages[@]}" || failed+=(golangci-lint)

# Known vulnerabilities reachable from the code, against the pinned
# database (tools/vuln) and the standard library of the release Go.
log "govulncheck ./... ($RELEASE_GO, golang.org/x/vulndb@$(cat "$BUILD_DIR/vulndb/.version"))"
GOTOOLCHAIN=$RELEASE_GO "$BIN_DIR/govulncheck" -db "file://$BUILD_DIR/vulndb" ./... || failed+=(govulncheck)

ensure_openapi_linters
log "OpenAPI documents: redocly lint (recommended), spectral lint (spectral:oas)"
lint_openapi || failed+=("OpenAPI documents")

if [[ ${#failed[@]} -gt 0 ]]; then
	die "lint failed: ${failed[*]}"
fi
log "lint: no problems found"
