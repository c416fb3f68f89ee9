# Estate: build, test, lint and benchmark.
#
# `make test` and `make lint` install what they need on first use (Debian
# packages, the Pact FFI library, Go tools in bin/) and skip it afterwards;
# the logic lives in scripts/. Run `make help` for the targets.

SHELL := /bin/bash

# Packages for test, lint and bench, e.g. `make test PKG=./metrics/...`.
PKG ?= ./...
# Extra go test flags, e.g. `make test GOTESTFLAGS='-run TestStore -v'`.
GOTESTFLAGS ?=
# Benchmark pattern for `make bench`.
BENCH ?= .

export PKG GOTESTFLAGS BENCH

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_-]+:.*## / { printf "  %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo
	@echo "  Variables: PKG=$(PKG)  GOTESTFLAGS=$(GOTESTFLAGS)  BENCH=$(BENCH)  ESTATE_TEST_PG_PORT (55432)"

.PHONY: test
test: ## Install what tests need, start PostgreSQL, run go test -race (PKG, GOTESTFLAGS)
	@bash scripts/test.sh

.PHONY: lint
lint: ## go mod tidy check, go vet, staticcheck, golangci-lint with the layering rules (PKG), govulncheck; Redocly and Spectral on the OpenAPI documents
	@bash scripts/lint.sh

.PHONY: bench
bench: ## Run benchmarks 6 times into build/bench.txt and summarise with benchstat (PKG, BENCH)
	@bash scripts/bench.sh

.PHONY: fmt
fmt: ## Format Go files (gofmt and goimports, as configured in .golangci.yml)
	@bash scripts/lint.sh fmt

.PHONY: build
build: ## Build bin/estate
	go build -o bin/estate ./cmd/estate

.PHONY: tools
tools: ## Build the Go tools into bin/ (linters, benchstat, helm, jaeger, kube-apiserver, etcd, controller-gen)
	@bash scripts/deps.sh tools

.PHONY: deps
deps: ## Install everything tests and linters need, without running them
	@bash scripts/deps.sh all

.PHONY: pg-start
pg-start: ## Start the test PostgreSQL cluster and keep it up between test runs
	@bash scripts/pg.sh start

.PHONY: pg-stop
pg-stop: ## Stop the test PostgreSQL cluster
	@bash scripts/pg.sh stop

.PHONY: clean
clean: ## Stop the test cluster and remove bin/ and build/
	@bash scripts/pg.sh stop
	rm -rf bin build
