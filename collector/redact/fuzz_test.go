package redact_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/estatehq/estate/collector/redact"
)

// FuzzRedact feeds arbitrary text, as a body, an attribute under an
// arbitrary key and a value nested in a map, to redactors with the default
// rules, with keyed hashes and with a configured pattern: they never panic,
// and redacting again changes nothing and counts nothing.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"",
		"invoice sent to jane.doe@example.com",
		"card " + visa + " and " + badVisa + " and " + mastercard,
		"pay " + iban + " or " + ibanDE + " not " + badIBAN,
		"Authorization: Bearer " + jwt + "\r\nCookie: sid=1",
		`{"authorization":"Basic dXNlcjpwYXNz","cookie":"a=b"}`,
		"https://x/?access_token=" + jwt + "&page=2",
		"[REDACTED:email] [REDACTED:authorization:00000000000000000000000000000000]",
		"authorization=[REDACTED:card] a@b.co",
		"x@4111111111111111.com 4111111111111111@x.io",
		"eyJa.eyJb.c@d.ef",
		"ORD-12345678 ORD-1234567",
	} {
		f.Add(s, "attr")
		f.Add(s, "http.request.header.authorization")
	}
	configs := map[string]func(*redact.Config){
		"defaults": nil,
		"hashed":   func(c *redact.Config) { c.Replacement, c.HashKey = "[HMAC:{rule}:{hash}]", hashKey },
		"bare hash": func(c *redact.Config) {
			c.Replacement, c.HashKey = "{hash}", hashKey
		},
		"pattern": func(c *redact.Config) {
			c.Patterns = map[string]string{"order_ref": `ORD-[0-9]{8}`, "word": `RED[A-Z]*`}
			c.DropKeys = []string{"debug"}
		},
	}
	redactors := map[string]*redact.Redactor{}
	for name, edit := range configs {
		redactors[name], _ = newRedactor(f, edit)
	}
	f.Fuzz(func(t *testing.T, s, key string) {
		for name, r := range redactors {
			ld := plog.NewLogs()
			lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
			lr.Body().SetStr(s)
			lr.Attributes().PutStr(key, s)
			m := lr.Attributes().PutEmptyMap("nested")
			m.PutStr(key, s)
			m.PutEmptySlice("list").AppendEmpty().SetStr(s)
			r.Logs(ld)
			once := plog.NewLogs()
			ld.CopyTo(once)
			counts := r.Logs(ld)
			require.Nil(t, counts, "%s: redacting again counted something", name)
			require.Equal(t, once.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().AsRaw(),
				lr.Body().AsRaw(), "%s: redacting again changed the body", name)
			require.Equal(t, once.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw(),
				lr.Attributes().AsRaw(), "%s: redacting again changed the attributes", name)
		}
	})
}
