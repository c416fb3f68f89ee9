package elasticsearch

import "encoding/json"

// deadLetter is a record the cluster refused for good, with the reason. The
// file (internal/deadletter), not the dead-letter index, is what makes a
// refused record "not silently dropped". A batch replayed after a crash may
// append a record twice; its id tells the copies apart.
type deadLetter struct {
	Time      string          `json:"time"`
	Index     string          `json:"index"`
	ID        string          `json:"id"`
	Status    int             `json:"status"`
	ErrorType string          `json:"error_type,omitempty"`
	Reason    string          `json:"reason"`
	Document  json.RawMessage `json:"document"`
}
