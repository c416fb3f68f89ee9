#!/usr/bin/env bash
#
# Installs what the tests and linters need, without running anything:
#   scripts/deps.sh all    Debian packages, Pact FFI library, all Go tools, the CRDs and the OpenAPI linters (make deps)
#   scripts/deps.sh tools  the Go tools in bin/ only (make tools)
# Anything already installed at the pinned version is skipped.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

case "${1:-all}" in
all)
	ensure_build_dir_ignored
	ensure_apt_packages
	ensure_pact_ffi
	ensure_go_tools
	ensure_crds
	ensure_openapi_linters
	;;
tools)
	ensure_go_tools
	;;
*)
	die "usage: $0 [all|tools]"
	;;
esac
