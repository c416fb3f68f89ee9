package redact_test

import (
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/collector/redact"
	"github.com/estatehq/estate/internal/config"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*redact.Config)
		want string
	}{
		{"defaults", func(*redact.Config) {}, ""},
		{"every default off", func(c *redact.Config) {
			c.Email, c.Card, c.IBAN, c.Authorization, c.Cookie, c.JWT, c.Personal = false, false, false, false, false, false, false
		}, ""},
		{"a pattern", func(c *redact.Config) { c.Patterns = map[string]string{"order_ref": `ORD-\d{8}`} }, ""},
		{"a bad pattern", func(c *redact.Config) { c.Patterns = map[string]string{"order_ref": `ORD-(\d{8}`} }, "patterns.order_ref: error parsing regexp: missing closing )"},
		{"checked when off too", func(c *redact.Config) { c.Enabled, c.Patterns = false, map[string]string{"p": `(`} }, "patterns.p: error parsing regexp"},
		{"a pattern's name", func(c *redact.Config) { c.Patterns = map[string]string{"Order-Ref": `x`} }, "patterns.Order-Ref: a rule's name must be lower-case letters, digits and _"},
		{"a default rule's name", func(c *redact.Config) { c.Patterns = map[string]string{"email": `x`} }, `patterns.email: "email" is the name of a default rule`},
		{"a pattern matching nothing", func(c *redact.Config) { c.Patterns = map[string]string{"p": `x*`} }, "patterns.p: must not match the empty string"},
		{"a pattern matching a marker", func(c *redact.Config) { c.Patterns = map[string]string{"p": `REDACTED`} }, ""},
		{"a key listed twice", func(c *redact.Config) { c.Keys = []string{"a.b", "A.B"} }, `keys[1]: "A.B" is listed twice`},
		{"a key kept and dropped", func(c *redact.Config) { c.Keys, c.DropKeys = []string{"a"}, []string{"a"} }, `drop_keys[0]: "a" is also in keys`},
		{"an empty key", func(c *redact.Config) { c.DropKeys = []string{"x", "."} }, `drop_keys[1]: "." is not an attribute key`},
		{"a default key dropped instead", func(c *redact.Config) { c.DropKeys = []string{"authorization"} }, ""},
		{"replacement with a line break", func(c *redact.Config) { c.Replacement = "{rule}\n" }, `replacement: must not contain quotes, backslashes or line breaks, not "{rule}\n"`},
		{"replacement with quotes", func(c *redact.Config) { c.Replacement = `"{rule}"` }, "replacement: must not contain quotes"},
		{"hash without a key", func(c *redact.Config) { c.Replacement = "[{rule}:{hash}]" }, "hash_key: must be at least 32 characters when the replacement has {hash}, not 0"},
		{"a short key", func(c *redact.Config) { c.Replacement, c.HashKey = "[{rule}:{hash}]", "short" }, "hash_key: must be at least 32 characters"},
		{"a key without hash", func(c *redact.Config) { c.HashKey = hashKey }, `hash_key: is set but the replacement "[REDACTED:{rule}]" has no {hash}`},
		{"hash", func(c *redact.Config) { c.Replacement, c.HashKey = "[REDACTED:{rule}:{hash}]", hashKey }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaults(t)
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				_, err = redact.New(redact.Options{Config: c})
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
			if c.Enabled {
				_, err = redact.New(redact.Options{Config: c})
				require.ErrorContains(t, err, tt.want, "New refuses what Validate refuses")
			}
		})
	}
}

func TestConfigFromFlagsAndYAML(t *testing.T) {
	load := func(t *testing.T, args []string, yaml string) redact.Config {
		t.Helper()
		var c redact.Config
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.RegisterFlags(fs, "collector.redact.")
		require.NoError(t, config.Decode([]byte(yaml), &struct {
			Collector struct {
				Redact *redact.Config `yaml:"redact"`
			} `yaml:"collector"`
		}{Collector: struct {
			Redact *redact.Config `yaml:"redact"`
		}{Redact: &c}}))
		require.NoError(t, fs.Parse(args))
		require.NoError(t, c.Validate())
		return c
	}
	c := load(t, nil, "")
	require.True(t, c.Enabled && c.Email && c.Card && c.IBAN && c.Authorization && c.Cookie && c.JWT && c.Personal, "every default rule is on")
	require.Equal(t, redact.DefaultReplacement, c.Replacement)
	require.Empty(t, c.Patterns)

	c = load(t, nil, `
collector:
  redact:
    card: false
    patterns:
      order_ref: "ORD-[0-9]{8}"
    keys: [estate.customer.address]
    drop_keys: [http.request.body]
    replacement: "[HMAC:{rule}:{hash}]"
    hash_key: "`+hashKey+`"
`)
	require.False(t, c.Card)
	require.Equal(t, map[string]string{"order_ref": "ORD-[0-9]{8}"}, c.Patterns)
	require.Equal(t, []string{"estate.customer.address"}, c.Keys)
	require.Equal(t, []string{"http.request.body"}, c.DropKeys)

	c = load(t, []string{
		`--collector.redact.patterns={"order_ref": "ORD-[0-9]{8}", "phone": "\\+44[0-9 ]{10,13}"}`,
		"--collector.redact.iban=false", "--collector.redact.drop-keys=a.b,c",
	}, "collector: {redact: {patterns: {other: x}}}")
	require.Equal(t, map[string]string{"order_ref": "ORD-[0-9]{8}", "phone": `\+44[0-9 ]{10,13}`}, c.Patterns, "the flag replaces the file's patterns")
	require.False(t, c.IBAN)
	require.Equal(t, []string{"a.b", "c"}, c.DropKeys)

	var bad redact.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	bad.RegisterFlags(fs, "")
	require.ErrorContains(t, fs.Parse([]string{"--patterns=[a, b]"}), "patterns must be a map of name to regular expression")
}
