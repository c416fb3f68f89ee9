package redact

import "strings"

// span is a part of a string to replace: s[start:end].
type span struct{ start, end int }

// A finder appends to dst the spans of s that its rule replaces, in order
// and not overlapping. The built-in finders are hand-written scanners
// rather than regular expressions, and never allocate; they run only on
// strings whose profile has what they need.
type finder func(s string, dst []span) []span

// A profile is what one pass over a string found in it: the characters
// that the built-in rules need, so that a rule whose characters are
// missing (an address without '@', a card number without 13 digits) is
// not run at all. Nearly every attribute value rules out every rule.
type profile uint16

const (
	hasAt           profile = 1 << iota // '@': an address
	hasDot                              // '.': an address's domain, a JWT
	hasSep                              // ':' or '=': a header's value
	hasZ                                // 'z' or 'Z': "authorization"
	hasK                                // 'k' or 'K': "cookie"
	hasJ                                // 'J': "eyJ", a JWT
	hasUpperCh                          // an upper-case letter
	hasDigitCh                          // a digit
	hasCardDigits                       // 13 digits or more in groups: a card number
	hasLettersDigit                     // two upper-case letters, then a digit: an IBAN
)

// Bits of byteProfiles above a profile's: a digit (so that adding the bit
// counts digits), and a separator of a card number's groups.
const (
	digitBit = 15
	groupBit = 14
)

// byteProfiles is the profile of each byte, with digitBit set for digits
// and groupBit for ' ' and '-'.
var byteProfiles = func() (t [256]uint16) {
	for c := range 256 {
		b := byte(c)
		var p uint16
		switch {
		case isDigit(b):
			p = uint16(hasDigitCh) | 1<<digitBit
		case isUpper(b):
			p = uint16(hasUpperCh)
		}
		switch b {
		case '@':
			p |= uint16(hasAt)
		case '.':
			p |= uint16(hasDot)
		case ':', '=':
			p |= uint16(hasSep)
		case 'z', 'Z':
			p |= uint16(hasZ)
		case 'k', 'K':
			p |= uint16(hasK)
		case 'J':
			p |= uint16(hasJ)
		case ' ', '-':
			p |= 1 << groupBit
		}
		t[c] = p
	}
	return t
}()

// profileOf reads s: one pass for the characters and the count of digits,
// which is all nearly every string needs; a second, only when s has 13
// digits, for a run of 13 in digit groups (a card number's); a third, only
// when s has both upper-case letters and digits, for two letters then a
// digit (an IBAN's start).
func profileOf(s string) profile {
	var p uint16
	digits := 0
	for i := range len(s) {
		c := byteProfiles[s[i]]
		p |= c
		digits += int(c >> digitBit)
	}
	prof := profile(p &^ (1<<digitBit | 1<<groupBit))
	if digits >= minCardDigits && hasDigitRun(s) {
		prof |= hasCardDigits
	}
	if prof&(hasUpperCh|hasDigitCh) == hasUpperCh|hasDigitCh && hasLettersThenDigit(s) {
		prof |= hasLettersDigit
	}
	return prof
}

// hasDigitRun reports whether s has minCardDigits digits in a row, or in
// groups separated by single spaces or dashes.
func hasDigitRun(s string) bool {
	run := 0
	for i := range len(s) {
		switch c := s[i]; {
		case isDigit(c):
			if run++; run >= minCardDigits {
				return true
			}
		case (c == ' ' || c == '-') && i > 0 && isDigit(s[i-1]):
		default:
			run = 0
		}
	}
	return false
}

// hasLettersThenDigit reports whether s has two upper-case letters then a
// digit.
func hasLettersThenDigit(s string) bool {
	for i := 2; i < len(s); i++ {
		if isDigit(s[i]) && isUpper(s[i-1]) && isUpper(s[i-2]) {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return c-'0' < 10 }
func isUpper(c byte) bool { return c-'A' < 26 }
func isLower(c byte) bool { return c-'a' < 26 }
func isAlpha(c byte) bool { return isUpper(c) || isLower(c) }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// isLocal is a character of an address's local part as written in logs:
// letters, digits and ._%+- (RFC 5322 allows more, but '=' and '/' would
// swallow the "email=" or the path before an address).
func isLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomain(c byte) bool { return isAlnum(c) || c == '-' || c == '.' }

// findEmails finds addresses local@domain.tld: a local part, an '@', a
// domain of at least two labels and a top-level label of two letters or
// more.
func findEmails(s string, dst []span) []span {
	from := 0
	for {
		k := strings.IndexByte(s[from:], '@')
		if k < 0 {
			return dst
		}
		at := from + k
		l := at
		for l > from && isLocal(s[l-1]) {
			l--
		}
		for l < at && s[l] == '.' {
			l++
		}
		r := at + 1
		for r < len(s) && isDomain(s[r]) {
			r++
		}
		for r > at+1 && (s[r-1] == '.' || s[r-1] == '-') {
			r--
		}
		dot := strings.LastIndexByte(s[at+1:r], '.')
		if l == at || dot <= 0 || !tld(s[at+2+dot:r]) {
			from = at + 1
			continue
		}
		dst = append(dst, span{l, r})
		from = r
	}
}

func tld(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i := range len(s) {
		if !isAlpha(s[i]) {
			return false
		}
	}
	return true
}

// Card numbers have 13 to 19 digits (ISO/IEC 7812).
const (
	minCardDigits = 13
	maxCardDigits = 19
	maxCardGroups = 24
)

// findCards finds payment card numbers: 13 to 19 digits, in groups
// separated by single spaces or dashes, standing alone (no letter or digit
// glued to either end), starting with 2 to 6 (the major networks' ranges,
// which leaves out the nanosecond timestamps of this century) and passing
// the Luhn check. In a longer run of groups ("4111 1111 1111 1111 12/27")
// the longest run of whole groups that passes is taken.
func findCards(s string, dst []span) []span {
	var groups [maxCardGroups]span
	i := 0
	for i < len(s) {
		if !isDigit(s[i]) {
			i++
			continue
		}
		if i > 0 && isAlpha(s[i-1]) {
			for i < len(s) && isAlnum(s[i]) {
				i++
			}
			continue
		}
		n := 0
		j := i
		for n < maxCardGroups {
			start := j
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			groups[n] = span{start, j}
			n++
			if j+1 < len(s) && (s[j] == ' ' || s[j] == '-') && isDigit(s[j+1]) {
				j++
				continue
			}
			break
		}
		if j < len(s) && isAlpha(s[j]) {
			// The last group is glued to a word: it is not a number.
			n--
		}
		dst = cardsIn(s, groups[:n], dst)
		i = j
		for i < len(s) && isAlnum(s[i]) {
			i++
		}
	}
	return dst
}

// cardsIn appends the card numbers made of whole consecutive groups,
// longest first from each starting group.
func cardsIn(s string, groups []span, dst []span) []span {
	for a := 0; a < len(groups); a++ {
		for b := len(groups) - 1; b >= a; b-- {
			digits := 0
			for _, g := range groups[a : b+1] {
				digits += g.end - g.start
			}
			if digits < minCardDigits || digits > maxCardDigits {
				continue
			}
			if first := s[groups[a].start]; first < '2' || first > '6' || !luhn(s[groups[a].start:groups[b].end]) {
				continue
			}
			dst = append(dst, span{groups[a].start, groups[b].end})
			a = b
			break
		}
	}
	return dst
}

// luhn checks the digits of s (other characters are skipped) with the Luhn
// algorithm (ISO/IEC 7812-1).
func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// findIBANs finds International Bank Account Numbers (ISO 13616): a
// country code of the IBAN registry, two check digits and the country's
// BBAN, the country's length in all, in upper case, written whole or in
// groups separated by single spaces, standing alone, and passing the mod-97
// check.
func findIBANs(s string, dst []span) []span {
	var buf [maxIBAN]byte
	for i := 0; i+minIBAN <= len(s); i++ {
		if !isUpper(s[i]) || !isUpper(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || (i > 0 && isAlnum(s[i-1])) {
			continue
		}
		want := ibanLength(s[i], s[i+1])
		if want == 0 {
			continue
		}
		n, j := 0, i
		for j < len(s) && n < want {
			c := s[j]
			switch {
			case isUpper(c) || isDigit(c):
				buf[n] = c
				n++
				j++
				continue
			case c == ' ' && j+1 < len(s) && (isUpper(s[j+1]) || isDigit(s[j+1])):
				j++
				continue
			}
			break
		}
		if n < want || (j < len(s) && isAlnum(s[j])) || !mod97(buf[:n]) {
			continue
		}
		dst = append(dst, span{i, j})
		i = j - 1
	}
	return dst
}

// mod97 is the IBAN check: the country code and check digits moved to the
// end, letters read as 10 to 35, the number modulo 97 is 1.
func mod97(iban []byte) bool {
	rem := 0
	add := func(c byte) {
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A') + 10) % 97
		}
	}
	for _, c := range iban[4:] {
		add(c)
	}
	for _, c := range iban[:4] {
		add(c)
	}
	return rem == 1
}

func isB64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// findJWTs finds JSON Web Tokens in compact form: base64url segments
// separated by dots, the first (the JOSE header, a JSON object) starting
// "eyJ", at least two segments with content; the segments after the second
// are taken too (a signature, or the rest of an encrypted token).
func findJWTs(s string, dst []span) []span {
	from := 0
	for {
		k := strings.Index(s[from:], "eyJ")
		if k < 0 {
			return dst
		}
		start := from + k
		from = start + 3
		if start > 0 && isB64URL(s[start-1]) {
			continue
		}
		j := b64End(s, start)
		if j >= len(s) || s[j] != '.' {
			continue
		}
		payload := j + 1
		j = b64End(s, payload)
		if j == payload || j >= len(s) || s[j] != '.' {
			continue
		}
		for j < len(s) && s[j] == '.' {
			j = b64End(s, j+1)
		}
		dst = append(dst, span{start, j})
		from = j
	}
}

func b64End(s string, i int) int {
	for i < len(s) && isB64URL(s[i]) {
		i++
	}
	return i
}

// headerFinder finds the values of header name in free text: a log line
// "Authorization: Bearer ...", a JSON body {"cookie":"..."}, Go's printing
// of an http.Header. The name is matched in any case, not glued to a
// letter or digit before it ("Proxy-Authorization" and "Set-Cookie" are
// found by their ends), followed by an optional closing quote, ':' or '='
// and the value: up to its closing quote when quoted, else up to the end
// of the line or a double quote. name is lower case; anchor is the index
// in it of a letter rare in text ('z' of authorization, 'k' of cookie),
// looked for first, in either case, with the fast byte search.
func headerFinder(name string, anchor int) finder {
	lower, upper := name[anchor], name[anchor]-'a'+'A'
	return func(s string, dst []span) []span {
		for from := anchor; from < len(s); {
			i := indexEither(s[from:], lower, upper)
			if i < 0 {
				return dst
			}
			i += from
			from = i + 1
			start := i - anchor
			end := start + len(name)
			if end > len(s) || !strings.EqualFold(s[start:end], name) || (start > 0 && isAlnum(s[start-1])) {
				continue
			}
			if v, ok := headerValue(s, end); ok {
				dst = append(dst, v)
				from = v.end + anchor
			}
		}
		return dst
	}
}

// indexEither is the first index of a or b in s, or -1.
func indexEither(s string, a, b byte) int {
	i := strings.IndexByte(s, a)
	if i < 0 {
		return strings.IndexByte(s, b)
	}
	if j := strings.IndexByte(s[:i], b); j >= 0 {
		return j
	}
	return i
}

// headerValue reads, from s[i:] right after a header's name, the separator
// and the value.
func headerValue(s string, i int) (span, bool) {
	for n := 0; n < 2 && i < len(s) && (s[i] == '"' || s[i] == '\'' || s[i] == '\\'); n++ {
		i++
	}
	i = skipSpaces(s, i)
	if i >= len(s) || (s[i] != ':' && s[i] != '=') {
		return span{}, false
	}
	i = skipSpaces(s, i+1)
	if i < len(s) && s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\'') {
		i++
	}
	if i < len(s) && (s[i] == '"' || s[i] == '\'') {
		quote := s[i]
		start := i + 1
		end := start
		for end < len(s) && s[end] != quote {
			end++
		}
		if end > start && s[end-1] == '\\' {
			end--
		}
		return span{start, end}, end > start
	}
	start := i
	end := start
	for end < len(s) && s[end] != '\n' && s[end] != '\r' && s[end] != '"' {
		end++
	}
	for end > start && (s[end-1] == ' ' || s[end-1] == '\\') {
		end--
	}
	return span{start, end}, end > start
}

func skipSpaces(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}
