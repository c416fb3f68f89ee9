// Package contract holds the credit service's consumer contract tests
// (Pact, pact-go v2): every interaction the credit service relies on in the
// invoicing service (the invoice history, the invoice lookup of a drawdown,
// and the invoice.paid message of its outbox), written as pact files to
// contracts/ at the root of the repository, which the invoicing service's
// provider verification replays (services/invoicing/contract).
//
// The tests link the Pact FFI library (libpact_ffi.so, cgo); they live in
// this package alone so that no other package's tests need it. `make test`
// installs it and sets ESTATE_PACT_FFI_DIR.
package contract
