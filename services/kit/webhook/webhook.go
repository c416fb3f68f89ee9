// Package webhook signs and verifies the webhooks other parties send to
// Estate's services, as Stripe signs its own: the header
//
//	Estate-Signature: t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//
// carries the Unix time of signing and the hex HMAC-SHA256, under a secret
// both sides hold, of the time, a dot and the raw body. The receiver refuses
// a signature made longer ago (or further ahead) than its tolerance, so a
// captured request cannot be replayed later; within the tolerance, the
// receiver's own idempotency (the payment's id) makes a replay harmless.
// Several v1 entries may be sent, one per secret while a secret is rotated.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Header carries the signature.
const Header = "Estate-Signature"

// DefaultTolerance is how far from the receiver's clock a signature's time
// may be, as Stripe's libraries allow by default.
const DefaultTolerance = 5 * time.Minute

// Sign returns the Header value of body signed with secret at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Error is a refused signature; Reason is safe to show the sender.
type Error struct{ Reason string }

func (e *Error) Error() string { return "webhook signature refused: " + e.Reason }

// Verify checks that header signs body with secret at a time within
// tolerance of now. It returns an *Error saying why it does not.
func Verify(header string, body []byte, secret string, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return &Error{Reason: "no webhook secret is configured"}
	}
	if header == "" {
		return &Error{Reason: Header + " is missing"}
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, sig)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return &Error{Reason: Header + " has no timestamp t=<unix seconds>"}
	}
	if len(sigs) == 0 {
		return &Error{Reason: Header + " has no v1 signature"}
	}
	want := mac(secret, ts, body)
	ok := false
	for _, sig := range sigs {
		ok = ok || hmac.Equal(sig, want)
	}
	if !ok {
		return &Error{Reason: Header + " does not match the body"}
	}
	// Checked after the signature, so that the time is the sender's own.
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return &Error{Reason: "the signature's timestamp is outside the tolerance of " + tolerance.String() + "; sign the request again"}
	}
	return nil
}
