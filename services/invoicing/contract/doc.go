// Package contract holds the invoicing service's provider verification of
// its consumers' pacts (Pact, pact-go v2): the pact files in contracts/ at
// the root of the repository are replayed against the real invoicing HTTP
// server on a real store, each provider state set up through the store, and
// the message pacts are checked against the events the real outbox writes.
//
// The tests link the Pact FFI library (libpact_ffi.so, cgo); they live in
// this package alone so that no other package's tests need it. `make test`
// installs it and sets ESTATE_PACT_FFI_DIR.
package contract
