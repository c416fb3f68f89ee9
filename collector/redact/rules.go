package redact

import (
	"fmt"
	"strings"
)

// The default rules' names, which label the markers and the counter; the
// configured keys and dropped keys count under RuleKeys and RuleDropped.
const (
	RuleEmail         = "email"
	RuleCard          = "card"
	RuleIBAN          = "iban"
	RuleAuthorization = "authorization"
	RuleCookie        = "cookie"
	RuleJWT           = "jwt"
	RulePersonal      = "personal"
	RuleKeys          = "keys"
	RuleDropped       = "dropped"
)

var reservedNames = []string{RuleEmail, RuleCard, RuleIBAN, RuleAuthorization, RuleCookie, RuleJWT, RulePersonal, RuleKeys, RuleDropped}

// Header names, as attribute keys (OpenTelemetry's semantic conventions
// name them http.request.header.<name> and http.response.header.<name>, in
// lower case) and as written in free text.
var (
	authorizationKeys = []string{"authorization", "proxy-authorization", "proxy_authorization"}
	cookieKeys        = []string{"cookie", "set-cookie", "set_cookie"}
)

// personalKeys are the attribute keys of personal data that the rule
// "personal" replaces whole: the fields of a business in invoicing (its
// billing email, legal name, registration number; an IBAN), customer
// names, and the user attributes of OpenTelemetry's semantic conventions.
// Each also matches keys ending in "." and it, so "billing_email" covers
// "estate.business.billing_email" as a span attribute and a log attribute
// named billing_email alike.
var personalKeys = []string{
	"billing_email", "legal_name", "registration_number", "iban", "email",
	"customer_name", "customer.name",
	"user.email", "user.full_name", "user.name",
}

// valueRule replaces what its finder finds in string values.
type valueRule struct {
	name string
	id   int
	find finder
	// need is what a string's profile must have for the rule to run.
	need profile
	// metrics: the rule also applies to metric attributes.
	metrics bool
}

// ruleset is a configuration compiled.
type ruleset struct {
	tpl    template
	names  []string // by rule id
	values []valueRule
	// keys maps a lower-case attribute key to the id of the rule that
	// replaces its value (or drops it).
	keys map[string]int
	// lasts holds the last dotted segments of keys, and lastShapes their
	// first bytes and lengths (bit n of lastShapes[c]: a segment of n
	// bytes starting with c), to rule out nearly every key at once.
	lasts      map[string]struct{}
	lastShapes [256]uint64
	// metricRules are the ids of the rules that apply to metric
	// attributes.
	metricRules map[int]bool
	// dropped is the id of RuleDropped, or -1.
	dropped int
	// markerLens are the lengths of the rules' markers, by id.
	markerLens []int
}

func builtins(c *Config, tpl template) *ruleset {
	rs := &ruleset{tpl: tpl, keys: map[string]int{}, lasts: map[string]struct{}{}, metricRules: map[int]bool{}, dropped: -1}
	if c.Authorization {
		id := rs.id(RuleAuthorization)
		rs.values = append(rs.values, valueRule{name: RuleAuthorization, id: id, find: headerFinder("authorization", 7), need: hasZ | hasSep, metrics: true})
		rs.putKeys(id, authorizationKeys)
		rs.metricRules[id] = true
	}
	if c.Cookie {
		id := rs.id(RuleCookie)
		rs.values = append(rs.values, valueRule{name: RuleCookie, id: id, find: headerFinder("cookie", 3), need: hasK | hasSep, metrics: true})
		rs.putKeys(id, cookieKeys)
		rs.metricRules[id] = true
	}
	if c.JWT {
		id := rs.id(RuleJWT)
		rs.values = append(rs.values, valueRule{name: RuleJWT, id: id, find: findJWTs, need: hasJ | hasDot, metrics: true})
		rs.metricRules[id] = true
	}
	if c.Email {
		rs.values = append(rs.values, valueRule{name: RuleEmail, id: rs.id(RuleEmail), find: findEmails, need: hasAt | hasDot})
	}
	if c.IBAN {
		rs.values = append(rs.values, valueRule{name: RuleIBAN, id: rs.id(RuleIBAN), find: findIBANs, need: hasLettersDigit})
	}
	if c.Card {
		rs.values = append(rs.values, valueRule{name: RuleCard, id: rs.id(RuleCard), find: findCards, need: hasCardDigits})
	}
	if c.Personal {
		rs.putKeys(rs.id(RulePersonal), personalKeys)
	}
	return rs
}

// forMetrics reports whether rule id applies to metric attributes.
func (rs *ruleset) forMetrics(id int) bool { return rs.metricRules[id] }

// id gives rule name its id.
func (rs *ruleset) id(name string) int {
	rs.names = append(rs.names, name)
	rs.markerLens = append(rs.markerLens, len(rs.tpl.fill(name, strings.Repeat("0", 2*hashBytes))))
	return len(rs.names) - 1
}

func (rs *ruleset) putKeys(id int, keys []string) {
	for _, k := range keys {
		rs.keys[k] = id
		last := k[strings.LastIndexByte(k, '.')+1:]
		rs.lasts[last] = struct{}{}
		if last != "" {
			rs.lastShapes[last[0]] |= lenBit(len(last))
		}
	}
}

func lenBit(n int) uint64 { return 1 << min(n, 63) }

// addKeys adds the keys configured under field for rule name; they take
// precedence over the default rules' keys.
func (rs *ruleset) addKeys(field, name string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	id := rs.id(name)
	if name == RuleDropped {
		rs.dropped = id
	}
	seen := map[string]bool{}
	for i, k := range keys {
		lk := strings.ToLower(strings.TrimSpace(k))
		switch {
		case lk == "" || strings.HasPrefix(lk, ".") || strings.HasSuffix(lk, "."):
			return fmt.Errorf("%s[%d]: %q is not an attribute key", field, i, k)
		case seen[lk]:
			return fmt.Errorf("%s[%d]: %q is listed twice", field, i, k)
		}
		if old, ok := rs.keys[lk]; ok && (rs.names[old] == RuleKeys || rs.names[old] == RuleDropped) {
			return fmt.Errorf("%s[%d]: %q is also in %s", field, i, k, rs.names[old])
		}
		seen[lk] = true
		rs.putKeys(id, []string{lk})
	}
	return nil
}

// lookup is the id of the rule whose key matches attribute key k.
func (rs *ruleset) lookup(k string) (int, bool) {
	last := k[strings.LastIndexByte(k, '.')+1:]
	if last == "" || rs.lastShapes[toLower(last[0])]&lenBit(len(last)) == 0 {
		return 0, false
	}
	if hasUpper(k) {
		k = strings.ToLower(k)
		last = strings.ToLower(last)
	}
	if _, ok := rs.lasts[last]; !ok {
		return 0, false
	}
	for {
		if id, ok := rs.keys[k]; ok {
			return id, true
		}
		i := strings.IndexByte(k, '.')
		if i < 0 {
			return 0, false
		}
		k = k[i+1:]
	}
}

func toLower(c byte) byte {
	if isUpper(c) {
		return c + 'a' - 'A'
	}
	return c
}

func hasUpper(s string) bool {
	for i := range len(s) {
		if isUpper(s[i]) {
			return true
		}
	}
	return false
}

// inMarker reports whether sp lies within a marker of any rule in s, so
// that what was redacted is never redacted again, whatever a rule finds in
// a marker: a header's name, the digits of a hash. Markers have a fixed
// length by rule, so the few places one could start are tried; this runs
// only for what a rule found.
func (rs *ruleset) inMarker(s string, sp span) bool {
	if rs.tpl.lead != "" && !strings.Contains(s, rs.tpl.lead) {
		return false
	}
	for id, name := range rs.names {
		n := rs.markerLens[id]
		if n < sp.end-sp.start {
			continue
		}
		for start := max(0, sp.end-n); start <= sp.start && start+n <= len(s); start++ {
			if rs.tpl.is(name, s[start:start+n]) {
				return true
			}
		}
	}
	return false
}
