package redact

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/estatehq/estate/internal/config"
)

// Defaults of the settings, written once: RegisterFlags binds them.
const (
	DefaultReplacement = "[REDACTED:" + placeholderRule + "]"
	// MinHashKey is the shortest hash key accepted: 256 bits of text.
	MinHashKey = 32
)

// Config is what an operator sets of redaction (the `collector.redact`
// group of the collector's configuration). Every default rule is on.
type Config struct {
	// Enabled turns redaction on; off, telemetry is queued as received.
	Enabled bool `yaml:"enabled"`
	// Email, Card, IBAN, Authorization, Cookie, JWT and Personal turn each
	// default rule on or off (see the Rule* names).
	Email         bool `yaml:"email"`
	Card          bool `yaml:"card"`
	IBAN          bool `yaml:"iban"`
	Authorization bool `yaml:"authorization"`
	Cookie        bool `yaml:"cookie"`
	JWT           bool `yaml:"jwt"`
	Personal      bool `yaml:"personal"`
	// Patterns are more rules: name to RE2 regular expression; each match
	// in a string value is replaced. The name labels the marker and the
	// counter.
	Patterns map[string]string `yaml:"patterns"`
	// Keys are attribute keys whose whole values are replaced (rule
	// "keys"), and DropKeys those removed with their values (rule
	// "dropped"). A key matches an attribute key equal to it or ending in
	// "." and it, in any case: "billing_email" matches
	// "estate.business.billing_email".
	Keys     []string `yaml:"keys"`
	DropKeys []string `yaml:"drop_keys"`
	// Replacement is what a redacted value becomes: {rule} is the rule's
	// name, {hash} the value's keyed hash (HMAC-SHA256 under HashKey, 128
	// bits in hex), which keeps equal values equal for correlation.
	Replacement string `yaml:"replacement"`
	// HashKey is the HMAC key of {hash}; needed when Replacement has it.
	HashKey string `yaml:"hash_key"`
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "enabled" and so on (prefix is empty or ends with a separator).
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.BoolVar(&c.Enabled, prefix+"enabled", true, "scrub personal data and secrets from telemetry (logs, spans, metric attributes) before it is queued")
	fs.BoolVar(&c.Email, prefix+RuleEmail, true, "redact email addresses")
	fs.BoolVar(&c.Card, prefix+RuleCard, true, "redact payment card numbers (13 to 19 digits, Luhn check)")
	fs.BoolVar(&c.IBAN, prefix+RuleIBAN, true, "redact IBANs (ISO 13616 length and mod-97 check)")
	fs.BoolVar(&c.Authorization, prefix+RuleAuthorization, true, "redact Authorization and Proxy-Authorization header values")
	fs.BoolVar(&c.Cookie, prefix+RuleCookie, true, "redact Cookie and Set-Cookie header values")
	fs.BoolVar(&c.JWT, prefix+RuleJWT, true, "redact JSON Web Tokens")
	fs.BoolVar(&c.Personal, prefix+RulePersonal, true, "redact the values of the services' personal fields by key (billing_email, legal_name, registration_number, iban, email, customer and user names)")
	c.Patterns = map[string]string{}
	fs.Var(patternsFlag{&c.Patterns}, prefix+"patterns", `more rules, a JSON or YAML map of name to RE2 regular expression, e.g. {"order_ref": "ORD-[0-9]{8}"}`)
	c.Keys, c.DropKeys = []string{}, []string{}
	fs.Var(config.CommaList{List: &c.Keys}, prefix+"keys", "attribute keys whose values are replaced, comma-separated (a key also matches keys ending in . and it)")
	fs.Var(config.CommaList{List: &c.DropKeys}, prefix+"drop-keys", "attribute keys removed with their values, comma-separated")
	fs.StringVar(&c.Replacement, prefix+"replacement", DefaultReplacement, "what a redacted value becomes: {rule} is the rule's name, {hash} the value's HMAC-SHA256 under hash_key (128 bits, hex)")
	fs.StringVar(&c.HashKey, prefix+"hash-key", "", "HMAC-SHA256 key of {hash} in the replacement, at least 32 characters")
}

// Validate names every field at fault, by its key in this group. The
// rules are checked even when redaction is off, so that turning it on
// cannot fail.
func (c *Config) Validate() error {
	_, err := compile(c)
	return err
}

// patternsFlag is a flag value for the patterns: a JSON or YAML map.
type patternsFlag struct{ m *map[string]string }

func (f patternsFlag) String() string {
	if f.m == nil || len(*f.m) == 0 {
		return ""
	}
	b, _ := json.Marshal(*f.m)
	return string(b)
}

func (f patternsFlag) Set(s string) error {
	m := map[string]string{}
	if strings.TrimSpace(s) != "" {
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			return fmt.Errorf("patterns must be a map of name to regular expression: %w", err)
		}
	}
	*f.m = m
	return nil
}

var ruleName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// replacementForbidden are characters a replacement may not hold: put in
// a JSON or quoted string, they would break it.
const replacementForbidden = "\"'\\\n\r"

// compile checks the configuration and builds its rules.
func compile(c *Config) (*ruleset, error) {
	var errs []error
	if strings.ContainsAny(c.Replacement, replacementForbidden) {
		errs = append(errs, fmt.Errorf("replacement: must not contain quotes, backslashes or line breaks, not %q", c.Replacement))
	}
	tpl := parseTemplate(c.Replacement, []byte(c.HashKey))
	switch {
	case tpl.hashed() && len(c.HashKey) < MinHashKey:
		errs = append(errs, fmt.Errorf("hash_key: must be at least %d characters when the replacement has %s, not %d", MinHashKey, placeholderHash, len(c.HashKey)))
	case !tpl.hashed() && c.HashKey != "":
		errs = append(errs, fmt.Errorf("hash_key: is set but the replacement %q has no %s", c.Replacement, placeholderHash))
	}
	rs := builtins(c, tpl)
	for _, name := range slices.Sorted(maps.Keys(c.Patterns)) {
		key := "patterns." + name
		if !ruleName.MatchString(name) {
			errs = append(errs, fmt.Errorf("%s: a rule's name must be lower-case letters, digits and _, starting with a letter", key))
			continue
		}
		if slices.Contains(reservedNames, name) {
			errs = append(errs, fmt.Errorf("%s: %q is the name of a default rule", key, name))
			continue
		}
		re, err := regexp.Compile(c.Patterns[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		if re.MatchString("") {
			errs = append(errs, fmt.Errorf("%s: must not match the empty string", key))
			continue
		}
		rs.values = append(rs.values, valueRule{name: name, id: rs.id(name), find: regexpFinder(re)})
	}
	errs = append(errs, rs.addKeys("keys", RuleKeys, c.Keys), rs.addKeys("drop_keys", RuleDropped, c.DropKeys))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rs, nil
}

func regexpFinder(re *regexp.Regexp) finder {
	return func(s string, dst []span) []span {
		for _, m := range re.FindAllStringIndex(s, -1) {
			if m[1] > m[0] {
				dst = append(dst, span{m[0], m[1]})
			}
		}
		return dst
	}
}
