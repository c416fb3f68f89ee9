# shellcheck shell=bash
#
# Shared functions for the scripts behind the Makefile: installing what the
# tests need, the throwaway PostgreSQL cluster, and the test environment.
#
# Source it from a script that runs with `set -euo pipefail`; by itself it
# only defines variables and functions.
#
# What it installs or builds lives in ignored folders of the work tree:
#   bin/    Go tools built from the modules under tools/ (+ bin/.NAME.version stamps)
#   build/  PostgreSQL data dir and log, the Pact FFI library, npm downloads
#           (the OpenAPI linters too when the cache cannot be written)
# Built tools and downloads are also kept by version outside the work tree,
# in $ESTATE_CACHE_DIR (default ~/.cache/estate), so a fresh clone of the
# same versions (CI) copies them instead of building them again.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$ROOT/bin"
BUILD_DIR="$ROOT/build"
CACHE_DIR="${ESTATE_CACHE_DIR:-${HOME:-/root}/.cache/estate}"

# Pinned versions that are not Go modules. The Go tools are pinned by the
# go.mod of their module under tools/.
PACT_CORE_PACKAGE="@pact-foundation/pact-core-linux-x64-glibc"
PACT_CORE_VERSION="18.1.0"
# Kubernetes version that `helm template` reports as .Capabilities.KubeVersion.
HELM_KUBE_MAJOR=1
HELM_KUBE_MINOR=34

# The Go that builds releases (the Dockerfile's GO_VERSION) and that
# govulncheck checks the standard library of: the newest patch release the
# module proxy serves. go.mod's go line stays the minimum the code needs,
# and the tests run on the machine's Go.
RELEASE_GO=go1.27.3

PG_BIN_DIR=/usr/lib/postgresql/15/bin
PG_PORT="${ESTATE_TEST_PG_PORT:-55432}"

# ---------------------------------------------------------------------------
# Output and small helpers
# ---------------------------------------------------------------------------

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# as_root runs a command as root: directly when we are root, else via sudo.
as_root() {
	if is_root; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run: $* (no sudo found); run it as root once"
	fi
}

# have_binary NAME_OR_PATH: an absolute path must be executable, a bare name
# must be on PATH.
have_binary() {
	if [[ $1 == /* ]]; then
		[[ -x $1 ]]
	else
		command -v "$1" >/dev/null 2>&1
	fi
}

# go_in DIR ARGS...: runs go inside the module in DIR, never in a workspace:
# each tools/ module stands alone.
go_in() {
	local dir=$1
	shift
	(cd "$dir" && GOWORK=off go "$@")
}

# ---------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------

# package:binary pairs; a package counts as installed when its binary is there.
APT_REQUIREMENTS=(
	"postgresql:$PG_BIN_DIR/postgres"
	"prometheus:prometheus"
	"prometheus:promtool"
	"prometheus-alertmanager:prometheus-alertmanager"
	"chromium:chromium"
)

# Retry downloads, and wait for another apt/dpkg run to finish instead of failing.
APT_OPTIONS=(-o Acquire::Retries=3 -o DPkg::Lock::Timeout=600)

# Services that Debian packages may try to start on install; tests start their
# own instances on free ports, so none of these may keep 9090/9093 busy.
PACKAGE_DAEMONS=(prometheus prometheus-alertmanager)

# ensure_apt_packages installs the Debian packages whose binaries are missing.
# It runs `apt-get update` only when something has to be installed.
ensure_apt_packages() {
	local entry pkg bin missing=()
	for entry in "${APT_REQUIREMENTS[@]}"; do
		pkg=${entry%%:*}
		bin=${entry#*:}
		if ! have_binary "$bin"; then
			[[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
		fi
	done
	if [[ ${#missing[@]} -eq 0 ]]; then
		log "Debian packages: all present"
		return 0
	fi

	log "Debian packages: installing ${missing[*]}"
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install ${missing[*]} by hand"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTIONS[@]}" update -qq

	# Fail early with a clear message when the archive does not have a package.
	local policy_out
	for pkg in "${missing[@]}"; do
		policy_out=$(apt-cache policy "$pkg")
		if [[ ! $policy_out =~ Candidate:\ [^\(] ]]; then
			die "Debian package $pkg is not available from the configured apt sources"
		fi
	done

	# Without systemd, a package's postinst may start its daemon through
	# invoke-rc.d. A policy-rc.d that answers 101 forbids that; add one for the
	# duration of the install unless the machine already has one.
	local policy=/usr/sbin/policy-rc.d added_policy=0 status=0
	if [[ ! -e $policy ]]; then
		as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
		added_policy=1
	fi
	# dpkg's progress goes to a log; it is shown only when the install fails.
	local apt_log="$BUILD_DIR/logs/apt.log"
	mkdir -p "$BUILD_DIR/logs"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTIONS[@]}" install -y -q \
		--no-install-recommends "${missing[@]}" >"$apt_log" 2>&1 || status=$?
	if [[ $added_policy -eq 1 ]]; then
		as_root rm -f "$policy"
	fi
	if [[ $status -ne 0 ]]; then
		tail -n 30 "$apt_log" >&2
		die "apt-get install ${missing[*]} failed (exit $status); see $apt_log"
	fi

	stop_package_daemons

	for entry in "${APT_REQUIREMENTS[@]}"; do
		have_binary "${entry#*:}" || die "${entry#*:} still missing after installing ${entry%%:*}"
	done
}

# stop_package_daemons stops the packaged Prometheus/Alertmanager services if
# an install started them anyway (they would hold ports 9090 and 9093).
stop_package_daemons() {
	local svc
	for svc in "${PACKAGE_DAEMONS[@]}"; do
		if [[ -x /etc/init.d/$svc ]] && /etc/init.d/"$svc" status >/dev/null 2>&1; then
			log "stopping the $svc service that its package started"
			as_root /etc/init.d/"$svc" stop >/dev/null 2>&1 || true
		fi
	done
	local port
	for port in 9090 9093; do
		if port_busy "$port"; then
			log "warning: port $port is in use by another process"
		fi
	done
}

# port_busy PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------------------
# Go tools (bin/), each built from its own module under tools/
# ---------------------------------------------------------------------------

# go_mod_version GOMOD MODULE: the version of MODULE that the go.mod file
# GOMOD requires, or nothing.
go_mod_version() {
	awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1"
}

# module_version DIR MODULE: the version of MODULE pinned in tools/DIR/go.mod.
module_version() {
	go_mod_version "$ROOT/tools/$1/go.mod" "$2"
}

# build_go_tool NAME DIR PACKAGE [LDFLAGS]: builds bin/NAME from PACKAGE in the
# tools/DIR module, unless bin/NAME was built from the same go.mod, go.sum,
# flags and Go version (recorded in bin/.NAME.version). A build of the same
# version is kept in the cache folder and copied from there when present.
build_go_tool() {
	local name=$1 dir=$2 pkg=$3 ldflags=${4:-}
	local moddir="$ROOT/tools/$dir" out="$BIN_DIR/$name" stamp="$BIN_DIR/.$name.version"
	local want key cached
	want="$pkg $(go env GOVERSION) ldflags=[$ldflags] $(cat "$moddir/go.mod" "$moddir/go.sum" | sha256sum | cut -c1-16)"
	if [[ -x $out && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
		return 0
	fi
	key=$(printf '%s' "$want" | sha256sum | cut -c1-16)
	cached="$CACHE_DIR/tools/$name-$key"
	mkdir -p "$BIN_DIR"
	rm -f "$stamp"
	if [[ -x $cached ]]; then
		log "bin/$name: from the cache ($cached)"
		cp "$cached" "$out.tmp" && mv "$out.tmp" "$out"
	else
		log "building bin/$name ($pkg)"
		# Static binaries, independent of the cgo flags that the tests use.
		CGO_ENABLED=0 go_in "$moddir" build -o "$out" -ldflags "$ldflags" "$pkg"
		# The cache is an optimisation: a failure to fill it fails nothing.
		if mkdir -p "$CACHE_DIR/tools" 2>/dev/null && cp "$out" "$cached.tmp.$$" 2>/dev/null; then
			mv "$cached.tmp.$$" "$cached"
		fi
	fi
	printf '%s\n' "$want" >"$stamp"
}

ensure_lint_tools() {
	build_go_tool staticcheck lint honnef.co/go/tools/cmd/staticcheck
	build_go_tool golangci-lint lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint \
		"-X main.version=$(module_version lint github.com/golangci/golangci-lint/v2 | sed 's/^v//')"
}

# ensure_vuln_tools builds bin/govulncheck with the release Go (it must
# load the standard library of the Go it checks) and indexes the pinned
# vulnerability database into build/vulndb, once per version.
ensure_vuln_tools() {
	GOTOOLCHAIN=$RELEASE_GO build_go_tool govulncheck vuln golang.org/x/vuln/cmd/govulncheck
	build_go_tool vulndb-index vuln golang.org/x/vulndb/cmd/indexdb
	local version db cached osv
	version=$(module_version vuln golang.org/x/vulndb)
	db="$BUILD_DIR/vulndb"
	if [[ -f $db/.version && "$(cat "$db/.version")" == "$version" ]]; then
		return 0
	fi
	cached="$CACHE_DIR/vulndb-$version"
	if [[ ! -f $cached/index/db.json ]]; then
		osv="$(go_in "$ROOT/tools/vuln" mod download -json golang.org/x/vulndb@"$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')/data/osv"
		[[ -d $osv ]] || die "no OSV data in golang.org/x/vulndb@$version ($osv)"
		log "indexing the vulnerability database golang.org/x/vulndb@$version"
		rm -rf "$cached.tmp" && mkdir -p "$cached.tmp"
		"$BIN_DIR/vulndb-index" -vulns "$osv" -out "$cached.tmp"
		rm -rf "$cached" && mv "$cached.tmp" "$cached"
	fi
	rm -rf "$db" && mkdir -p "$BUILD_DIR" && cp -r "$cached" "$db"
	printf '%s\n' "$version" >"$db/.version"
}

ensure_bench_tools() {
	build_go_tool benchstat lint golang.org/x/perf/cmd/benchstat
}

ensure_helm() {
	local version
	version=$(module_version helm helm.sh/helm/v3)
	[[ -n $version ]] || die "helm.sh/helm/v3 not found in tools/helm/go.mod"
	# The version variables are the ones Helm's own Makefile sets; without
	# them `helm version` says v3.x and charts see Kubernetes v1.20.
	build_go_tool helm helm helm.sh/helm/v3/cmd/helm "-s -w \
-X helm.sh/helm/v3/internal/version.version=$version \
-X helm.sh/helm/v3/internal/version.gitTreeState=clean \
-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$HELM_KUBE_MAJOR \
-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_KUBE_MINOR \
-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$HELM_KUBE_MAJOR \
-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_KUBE_MINOR"
}

ensure_jaeger() {
	# A cold build takes about five minutes on two cores; later builds come
	# from the Go build cache.
	build_go_tool jaeger jaeger github.com/jaegertracing/jaeger/cmd/jaeger \
		"-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$(module_version jaeger github.com/jaegertracing/jaeger)"
}

# ensure_kube_tools builds the Kubernetes API server and etcd that
# controller-runtime's envtest starts (internal/kubetest). A cold build of
# both takes about eleven CPU-minutes; later builds come from the cache.
ensure_kube_tools() {
	local version minor
	version=$(module_version kube-apiserver k8s.io/kubernetes)
	[[ -n $version ]] || die "k8s.io/kubernetes not found in tools/kube-apiserver/go.mod"
	minor=${version#v1.}
	minor=${minor%%.*}
	# The variables are the ones Kubernetes' own build sets; without them the
	# server reports v0.0.0-master as its version.
	build_go_tool kube-apiserver kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "-s -w \
-X k8s.io/component-base/version.gitVersion=$version \
-X k8s.io/component-base/version.gitMajor=1 \
-X k8s.io/component-base/version.gitMinor=$minor \
-X k8s.io/component-base/version.gitTreeState=clean"
	build_go_tool etcd etcd go.etcd.io/etcd/server/v3 "-s -w"
}

ensure_controller_gen() {
	build_go_tool controller-gen controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen "-s -w"
}

# ensure_test_tools builds the Go tools that tests run.
ensure_test_tools() {
	ensure_helm
	ensure_jaeger
	ensure_kube_tools
	ensure_controller_gen
	log "Go tools for tests: up to date in bin/"
}

# ensure_go_tools builds every Go tool that is missing or out of date.
ensure_go_tools() {
	ensure_lint_tools
	ensure_vuln_tools
	ensure_bench_tools
	ensure_test_tools
}

# ---------------------------------------------------------------------------
# CustomResourceDefinitions (build/crds/) for the API server of the tests
# ---------------------------------------------------------------------------

# One folder of CRD manifests per CRD set, generated by controller-gen from
# the API modules that tools/controller-gen/go.mod pins; internal/kubetest
# installs them by set name.
CRD_DIR="$BUILD_DIR/crds"

# name:package pattern, one per CRD set.
CRD_SETS=(
	"chaos-mesh:github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"prometheus-operator:github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/..."
)
# allowDangerousTypes: Chaos Mesh has float fields. maxDescLen=0 leaves the
# field descriptions out: tests never read them, and they are most of the
# manifests' size.
CRD_OPTIONS="crd:allowDangerousTypes=true,maxDescLen=0"

# check_crd_versions fails when the main module builds against other
# versions of the API modules than the CRDs are generated from: the Go types
# and the server's schemas must agree.
check_crd_versions() {
	local module tool main
	for module in github.com/chaos-mesh/chaos-mesh/api \
		github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring; do
		tool=$(go_mod_version "$ROOT/tools/controller-gen/go.mod" "$module")
		main=$(go_mod_version "$ROOT/go.mod" "$module")
		[[ -n $tool ]] || die "$module is not pinned in tools/controller-gen/go.mod"
		if [[ -n $main && $main != "$tool" ]]; then
			die "go.mod requires $module $main but tools/controller-gen/go.mod generates CRDs from $tool; require the same version in both"
		fi
	done
}

# ensure_crds generates the CRD sets into build/crds unless they were
# generated from the same go.mod, go.sum, options and controller-gen
# (recorded in build/crds/.version). A generation of the same inputs is kept
# in the cache folder and copied from there when present.
ensure_crds() {
	ensure_controller_gen
	check_crd_versions
	local moddir="$ROOT/tools/controller-gen" stamp="$CRD_DIR/.version"
	local want key cached
	# controller-gen's own stamp has the hash of the module's go.mod and
	# go.sum, which pin the API modules too; their versions are named for
	# whoever reads the stamp.
	want="$CRD_OPTIONS ${CRD_SETS[*]} \
chaos-mesh@$(module_version controller-gen github.com/chaos-mesh/chaos-mesh/api) \
prometheus-operator@$(module_version controller-gen github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring) \
controller-gen=[$(cat "$BIN_DIR/.controller-gen.version")]"
	if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
		log "CRDs: up to date in build/crds"
		return 0
	fi
	key=$(printf '%s' "$want" | sha256sum | cut -c1-16)
	cached="$CACHE_DIR/crds/$key"
	rm -rf "$CRD_DIR" "$CRD_DIR.tmp"
	if [[ -f $cached/.version ]]; then
		log "CRDs: from the cache ($cached)"
		cp -R "$cached" "$CRD_DIR.tmp"
	else
		log "CRDs: generating ${CRD_SETS[*]%%:*} with controller-gen"
		local entry name
		for entry in "${CRD_SETS[@]}"; do
			name=${entry%%:*}
			# In the tools module, so that the pinned versions are the ones loaded.
			(cd "$moddir" && GOWORK=off "$BIN_DIR/controller-gen" "$CRD_OPTIONS" \
				"paths=${entry#*:}" "output:crd:dir=$CRD_DIR.tmp/$name") ||
				die "controller-gen failed for the $name CRDs"
			compgen -G "$CRD_DIR.tmp/$name/*.yaml" >/dev/null || die "controller-gen wrote no $name CRDs"
		done
		printf '%s\n' "$want" >"$CRD_DIR.tmp/.version"
		# The cache is an optimisation: a failure to fill it fails nothing.
		if mkdir -p "$CACHE_DIR/crds" 2>/dev/null && cp -R "$CRD_DIR.tmp" "$cached.tmp.$$" 2>/dev/null; then
			rm -rf "$cached"
			mv "$cached.tmp.$$" "$cached"
		fi
	fi
	mv "$CRD_DIR.tmp" "$CRD_DIR"
}

# ---------------------------------------------------------------------------
# Pact FFI library (build/pact/libpact_ffi.so), shipped in an npm package
# ---------------------------------------------------------------------------

PACT_DIR="$BUILD_DIR/pact"

ensure_pact_ffi() {
	local lib="$PACT_DIR/libpact_ffi.so" stamp="$PACT_DIR/.version"
	local want="$PACT_CORE_PACKAGE@$PACT_CORE_VERSION"
	if [[ -f $lib && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
		log "Pact FFI: $want present"
		return 0
	fi
	local cached="$CACHE_DIR/pact/$PACT_CORE_VERSION/libpact_ffi.so"
	mkdir -p "$PACT_DIR"
	if [[ -f $cached ]]; then
		log "Pact FFI: $want from the cache"
		install -m 0755 "$cached" "$lib"
		printf '%s\n' "$want" >"$stamp"
		return 0
	fi
	command -v npm >/dev/null 2>&1 || die "npm not found; it is needed to fetch $want"
	log "Pact FFI: fetching $want"
	local npmdir="$BUILD_DIR/npm" tarball
	rm -rf "$npmdir"
	mkdir -p "$npmdir" "$PACT_DIR"
	tarball=$(cd "$npmdir" && npm pack --silent --no-fund --no-audit --no-update-notifier "$want" | tail -n1) ||
		die "npm pack $want failed"
	[[ -f $npmdir/$tarball ]] || die "npm pack $want produced no tarball"
	tar -xzf "$npmdir/$tarball" -C "$npmdir" package/prebuilds/linux-x64/libpact_ffi.so
	install -m 0755 "$npmdir/package/prebuilds/linux-x64/libpact_ffi.so" "$lib"
	# Check the library is what pact-go links against before recording it.
	local symbols
	symbols=$(nm -D --defined-only "$lib")
	[[ $symbols =~ [[:space:]]pactffi_version($'\n'|$) ]] ||
		die "$lib does not export pactffi_version"
	printf '%s\n' "$want" >"$stamp"
	if mkdir -p "$(dirname "$cached")" 2>/dev/null; then
		install -m 0755 "$lib" "$cached" 2>/dev/null || true
	fi
}

# ---------------------------------------------------------------------------
# OpenAPI linters (Redocly CLI, Spectral): npm packages pinned with their
# dependencies by scripts/openapi-lint/package-lock.json
# ---------------------------------------------------------------------------

OPENAPI_LINT_SRC="$ROOT/scripts/openapi-lint"
# Where ensure_openapi_linters installed them; their commands are in
# $OPENAPI_LINT_DIR/node_modules/.bin.
OPENAPI_LINT_DIR=""

# ensure_openapi_linters installs the linters with `npm ci`, once per
# lockfile and Node.js version, in the cache folder (build/openapi-lint when
# the cache cannot be written), so a fresh clone of the same versions only
# finds them there.
ensure_openapi_linters() {
	command -v node >/dev/null 2>&1 || die "node not found; the OpenAPI linters need Node.js (20.19 or later)"
	local want dir
	want="$(cat "$OPENAPI_LINT_SRC/package.json" "$OPENAPI_LINT_SRC/package-lock.json" | sha256sum | cut -c1-16) node=$(node --version)"
	dir="$CACHE_DIR/npm/openapi-lint-$(printf '%s' "$want" | sha256sum | cut -c1-16)"
	if ! mkdir -p "$CACHE_DIR/npm" 2>/dev/null || [[ ! -w $CACHE_DIR/npm ]]; then
		dir="$BUILD_DIR/openapi-lint"
	fi
	if [[ -f $dir/.version && "$(cat "$dir/.version")" == "$want" ]]; then
		OPENAPI_LINT_DIR=$dir
		log "OpenAPI linters: present ($dir)"
		return 0
	fi
	command -v npm >/dev/null 2>&1 || die "npm not found; it is needed to install the OpenAPI linters"
	log "OpenAPI linters: installing @redocly/cli and @stoplight/spectral-cli (npm ci)"
	local tmp="$dir.tmp.$$" npm_log="$BUILD_DIR/logs/npm-openapi-lint.log"
	mkdir -p "$BUILD_DIR/logs"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	cp "$OPENAPI_LINT_SRC/package.json" "$OPENAPI_LINT_SRC/package-lock.json" "$tmp/"
	# No install scripts: the linters need none (one dependency's only
	# reports usage).
	if ! (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --no-update-notifier) >"$npm_log" 2>&1; then
		tail -n 30 "$npm_log" >&2
		rm -rf "$tmp"
		die "npm ci of the OpenAPI linters failed; see $npm_log"
	fi
	[[ -x $tmp/node_modules/.bin/redocly && -x $tmp/node_modules/.bin/spectral ]] ||
		die "npm ci installed no redocly or spectral command in $tmp"
	printf '%s\n' "$want" >"$tmp/.version"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	OPENAPI_LINT_DIR=$dir
}

# lint_openapi runs Redocly's recommended rules and Spectral's oas rules on
# the services' OpenAPI documents; any warning fails.
lint_openapi() {
	local docs=("$ROOT"/services/*/openapi.json) status=0
	# No usage reports, no update notices: make lint talks to nobody.
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
		"$OPENAPI_LINT_DIR/node_modules/.bin/redocly" lint --config "$OPENAPI_LINT_SRC/redocly.yaml" --max-problems 1000 "${docs[@]}" || status=1
	"$OPENAPI_LINT_DIR/node_modules/.bin/spectral" lint --ruleset "$OPENAPI_LINT_SRC/.spectral.yaml" --fail-severity warn "${docs[@]}" || status=1
	return "$status"
}

# ---------------------------------------------------------------------------
# Throwaway PostgreSQL 15 cluster on 127.0.0.1:$PG_PORT, trust auth
# ---------------------------------------------------------------------------

# The cluster lives in build/postgres. As root, initdb and postgres refuse to
# run, so they run as the `postgres` system user, which must be able to reach
# that folder; when the work tree is not reachable by other users (a clone
# under /root, or umask 077), the cluster moves to a per-work-tree folder
# under /tmp instead.
pg_base_dir() {
	local base="$BUILD_DIR/postgres"
	if is_root; then
		mkdir -p "$base"
		chown postgres:postgres "$base"
		if ! runuser -u postgres -- test -w "$base" 2>/dev/null; then
			base="/tmp/estate-postgres-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
			mkdir -p "$base"
			chown postgres:postgres "$base"
			chmod 700 "$base"
		fi
	else
		mkdir -p "$base"
	fi
	printf '%s\n' "$base"
}

PG_BASE=""
pg_init_vars() {
	[[ -n $PG_BASE ]] && return 0
	[[ $PG_PORT =~ ^[0-9]+$ ]] || die "ESTATE_TEST_PG_PORT must be a port number, not '$PG_PORT'"
	[[ -x $PG_BIN_DIR/postgres ]] || die "PostgreSQL 15 is not installed ($PG_BIN_DIR/postgres); run \`make deps\`"
	PG_BASE=$(pg_base_dir)
	PG_DATA="$PG_BASE/data"
	PG_LOG="$PG_BASE/postgres.log"
	# Unix socket paths are limited to 107 bytes; fall back to /tmp for deep trees.
	PG_SOCKET_DIR="$PG_BASE"
	if [[ ${#PG_SOCKET_DIR} -gt 80 ]]; then
		PG_SOCKET_DIR=/tmp
	fi
	PG_KEEP_MARKER="$BUILD_DIR/postgres.keep"
	ESTATE_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
}

# pg_run runs a PostgreSQL program as the user that owns the cluster.
pg_run() {
	if is_root; then
		# From a folder that postgres can enter, whatever the caller's is.
		(cd "$PG_BASE" && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

pg_running() {
	pg_run "$PG_BIN_DIR/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1
}

# pg_running_port prints the port of the running cluster (postmaster.pid, line 4).
pg_running_port() {
	sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true
}

pg_initdb() {
	if [[ -f $PG_DATA/PG_VERSION ]]; then
		return 0
	fi
	log "PostgreSQL: creating cluster in $PG_DATA"
	rm -rf "$PG_DATA"
	pg_run "$PG_BIN_DIR/initdb" --pgdata="$PG_DATA" --username=postgres --auth=trust \
		--encoding=UTF8 --locale=C --no-sync >"$PG_BASE/initdb.log" 2>&1 ||
		die "initdb failed; see $PG_BASE/initdb.log"
}

# pg_start starts the cluster, or reuses one already running from an earlier
# run on the same port. Settings trade durability for speed: the cluster is
# thrown away.
pg_start() {
	pg_init_vars
	if is_root; then
		[[ ! -d $PG_DATA ]] || chown -R postgres:postgres "$PG_DATA"
	fi
	if pg_running; then
		if [[ "$(pg_running_port)" == "$PG_PORT" ]] &&
			"$PG_BIN_DIR/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
			log "PostgreSQL: reusing the cluster already running on 127.0.0.1:$PG_PORT"
			pg_check
			return 0
		fi
		log "PostgreSQL: restarting the cluster left running by an earlier run"
		pg_stop
	fi
	if port_busy "$PG_PORT"; then
		die "port $PG_PORT is used by another process; set ESTATE_TEST_PG_PORT to a free port"
	fi
	pg_initdb
	log "PostgreSQL: starting on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
	pg_run "$PG_BIN_DIR/pg_ctl" start --pgdata="$PG_DATA" --log="$PG_LOG" --wait --timeout=60 --silent \
		-o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories='$PG_SOCKET_DIR' \
-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
-c shared_buffers=128MB" ||
		{
			tail -n 20 "$PG_LOG" >&2 || true
			die "PostgreSQL did not start; see $PG_LOG"
		}
	pg_check
}

# pg_start_for_run starts the cluster for one test or bench run and stops it
# however the calling script ends, unless `make pg-start` asked for it to stay
# up. The trap is set before the start so that a half-started cluster is
# stopped too.
pg_start_for_run() {
	pg_init_vars
	trap pg_stop_after_run EXIT
	# Turn signals into a normal exit, so that the EXIT trap runs for them too.
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	pg_start
}

pg_stop_after_run() {
	if [[ ! -f $PG_KEEP_MARKER ]]; then
		pg_stop
	fi
}

# pg_check proves the cluster answers SQL over TCP with the DSN the tests get.
pg_check() {
	local version
	version=$("$PG_BIN_DIR/psql" "$ESTATE_TEST_POSTGRES_DSN" -XAtqc 'select version()') ||
		die "cannot query PostgreSQL at $ESTATE_TEST_POSTGRES_DSN"
	log "PostgreSQL: ${version%% on *} ready at $ESTATE_TEST_POSTGRES_DSN"
}

# pg_stop stops the cluster if it runs; quiet, so that go test's summary
# stays the last thing printed.
pg_stop() {
	pg_init_vars
	if pg_running; then
		pg_run "$PG_BIN_DIR/pg_ctl" stop --pgdata="$PG_DATA" --mode=fast --wait --timeout=60 --silent ||
			printf 'warning: could not stop PostgreSQL (%s)\n' "$PG_DATA" >&2
	fi
}

# ---------------------------------------------------------------------------
# The environment the tests read (see internal/testenv)
# ---------------------------------------------------------------------------

# abs_binary NAME: absolute path of NAME on PATH.
abs_binary() {
	local p
	p=$(command -v "$1") || die "$1 not found on PATH"
	readlink -f "$p"
}

export_test_env() {
	pg_init_vars
	export PATH="$BIN_DIR:$PATH"
	export ESTATE_STRICT="${ESTATE_STRICT:-1}"
	export ESTATE_TEST_POSTGRES_DSN
	export ESTATE_JAEGER_BIN="$BIN_DIR/jaeger"
	export ESTATE_HELM_BIN="$BIN_DIR/helm"
	export ESTATE_KUBE_ASSETS="$BIN_DIR"
	export ESTATE_CRD_DIR="$CRD_DIR"
	ESTATE_PROMETHEUS_BIN=$(abs_binary prometheus)
	ESTATE_PROMTOOL_BIN=$(abs_binary promtool)
	ESTATE_ALERTMANAGER_BIN=$(abs_binary prometheus-alertmanager)
	ESTATE_CHROMIUM_BIN=$(command -v chromium) || die "chromium not found on PATH"
	export ESTATE_PROMETHEUS_BIN ESTATE_PROMTOOL_BIN ESTATE_ALERTMANAGER_BIN ESTATE_CHROMIUM_BIN
	export ESTATE_PACT_FFI_DIR="$PACT_DIR"
	export LD_LIBRARY_PATH="$PACT_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	export CGO_LDFLAGS="-L$PACT_DIR -Wl,-rpath,$PACT_DIR${CGO_LDFLAGS:+ $CGO_LDFLAGS}"

	# The same settings as a file, for running single tests by hand:
	#   source build/test.env && go test -run TestX ./metrics/...
	mkdir -p "$BUILD_DIR"
	{
		echo "# Written by scripts/test.sh; source it to run tests by hand."
		# shellcheck disable=SC2016 # $PATH expands when the file is sourced
		printf 'export PATH=%q:"$PATH"\n' "$BIN_DIR"
		local v
		for v in ESTATE_STRICT ESTATE_TEST_POSTGRES_DSN ESTATE_JAEGER_BIN ESTATE_HELM_BIN \
			ESTATE_KUBE_ASSETS ESTATE_CRD_DIR \
			ESTATE_PROMETHEUS_BIN ESTATE_PROMTOOL_BIN ESTATE_ALERTMANAGER_BIN ESTATE_CHROMIUM_BIN \
			ESTATE_PACT_FFI_DIR LD_LIBRARY_PATH CGO_LDFLAGS; do
			printf 'export %s=%q\n' "$v" "${!v}"
		done
	} >"$BUILD_DIR/test.env"
}

# ensure_build_dir_ignored keeps Go's ./... patterns out of build/: a go.mod
# marks it as another module, so go test, go vet and the linters never walk
# the PostgreSQL data dir or the npm download.
ensure_build_dir_ignored() {
	mkdir -p "$BUILD_DIR"
	if [[ ! -f $BUILD_DIR/go.mod ]]; then
		printf '%s\n' '// Keeps ./... patterns of the main module out of this folder.' \
			'module estate-build-outputs' >"$BUILD_DIR/go.mod"
	fi
}

# ensure_test_deps installs everything the tests need and skips what is there.
ensure_test_deps() {
	ensure_build_dir_ignored
	ensure_apt_packages
	ensure_pact_ffi
	ensure_test_tools
	ensure_crds
}
