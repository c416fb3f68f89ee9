#!/usr/bin/env bash
#
# The throwaway PostgreSQL cluster of the tests, by hand:
#   scripts/pg.sh start  start it (or reuse it) and keep it up after `make test`
#   scripts/pg.sh stop   stop it; `make test` stops it at its end again
# The port is ESTATE_TEST_PG_PORT (default 55432).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

pg_init_vars
case "${1:-}" in
start)
	ensure_build_dir_ignored
	pg_start
	touch "$PG_KEEP_MARKER"
	printf 'export %s=%q\n' ESTATE_TEST_POSTGRES_DSN "$ESTATE_TEST_POSTGRES_DSN"
	;;
stop)
	rm -f "$PG_KEEP_MARKER"
	pg_stop
	log "PostgreSQL: stopped"
	;;
*)
	die "usage: $0 start|stop"
	;;
esac
