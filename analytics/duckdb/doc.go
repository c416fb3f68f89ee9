// Package duckdb holds no code: its test queries the tables that package
// analytics exports with DuckDB (github.com/duckdb/duckdb-go, which links
// DuckDB's library with cgo), as an analyst's SQL would, and checks the
// answers against the weekly report. It is a package of its own so that
// only this test pays for the cgo build.
package duckdb
