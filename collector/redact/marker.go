package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Placeholders of the replacement.
const (
	placeholderRule = "{rule}"
	placeholderHash = "{hash}"
)

// hashBytes is how much of the HMAC-SHA256 a marker keeps: 128 bits, as
// hex, which is plenty to tell values apart and correlate equal ones.
const hashBytes = 16

// template is the replacement, parsed: literal text, the rule's name and
// the keyed hash of the value replaced.
type template struct {
	parts   []part
	key     []byte
	hasHash bool
	// lead is the literal text a marker starts with, if any: a string
	// without it holds no marker.
	lead string
}

type partKind uint8

const (
	partLiteral partKind = iota
	partRule
	partHash
)

type part struct {
	kind partKind
	text string
}

func parseTemplate(s string, key []byte) template {
	t := template{key: key}
	for s != "" {
		r, h := strings.Index(s, placeholderRule), strings.Index(s, placeholderHash)
		i, kind, n := r, partRule, len(placeholderRule)
		if i < 0 || (h >= 0 && h < i) {
			i, kind, n = h, partHash, len(placeholderHash)
		}
		if i < 0 {
			t.parts = append(t.parts, part{kind: partLiteral, text: s})
			break
		}
		if i > 0 && len(t.parts) == 0 {
			t.lead = s[:i]
		}
		if i > 0 {
			t.parts = append(t.parts, part{kind: partLiteral, text: s[:i]})
		}
		t.parts = append(t.parts, part{kind: kind})
		t.hasHash = t.hasHash || kind == partHash
		s = s[i+n:]
	}
	if len(t.parts) == 1 && t.parts[0].kind == partLiteral {
		t.lead = t.parts[0].text
	}
	return t
}

// hashed reports whether markers carry the value's keyed hash.
func (t template) hashed() bool { return t.hasHash }

// render is the marker of rule for value.
func (t template) render(rule, value string) string {
	if !t.hashed() {
		return t.fill(rule, "")
	}
	return t.fill(rule, t.hash(value))
}

// fill is the marker of rule with hash in place of {hash}.
func (t template) fill(rule, hash string) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case partLiteral:
			b.WriteString(p.text)
		case partRule:
			b.WriteString(rule)
		case partHash:
			b.WriteString(hash)
		}
	}
	return b.String()
}

func (t template) hash(value string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil)[:hashBytes])
}

// is reports whether s is a marker of rule.
func (t template) is(rule, s string) bool {
	for _, p := range t.parts {
		var ok bool
		switch p.kind {
		case partLiteral:
			s, ok = strings.CutPrefix(s, p.text)
		case partRule:
			s, ok = strings.CutPrefix(s, rule)
		case partHash:
			ok = len(s) >= 2*hashBytes && isHex(s[:2*hashBytes])
			if ok {
				s = s[2*hashBytes:]
			}
		}
		if !ok {
			return false
		}
	}
	return s == ""
}

func isHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; !isDigit(c) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
