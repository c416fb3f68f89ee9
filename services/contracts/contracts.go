// Package contracts holds what the invoicing and credit services must spell
// alike, defined once so that neither service writes the other's names:
// both import it, and so does the wiring in cmd/estate.
//
// The Pact contracts in contracts/ at the root of the repository guard each
// name: the credit service's consumer tests (services/credit/contract) write
// it into the pacts from here, and the invoicing service's provider
// verification (services/invoicing/contract) checks its real server and
// outbox against what the pacts say. A pact not written again after a name
// changes here fails that verification.
package contracts

// HistoryScope is the scope a machine token needs to read a business's
// invoice history from the invoicing API. The credit service's tokens carry
// it; the pact's token state names it.
const HistoryScope = "invoicing/history.read"

// CreditEventsPath is where the credit API receives the invoicing service's
// outbox events (structured-mode CloudEvents, POSTed). The message pact's
// metadata names it as the path the event is delivered to.
const CreditEventsPath = "/v1/credit/events"
