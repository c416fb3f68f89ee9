package main

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

// The environments of --env.
const (
	envDevelopment = "development"
	envProduction  = "production"
)

// minSecret is the shortest secret accepted in production: 128 bits of
// hexadecimal, or a passphrase as long.
const minSecret = 32

// weakSecrets are placeholders that examples and tutorials use; compared
// lower-cased.
var weakSecrets = []string{"changeme", "change-me", "secret", "password", "development", "dev", "test", "example", "estate"}

// namedAddr is a listen address with the key of its option.
type namedAddr struct{ key, addr string }

// namedSecret is a secret with the key of its option.
type namedSecret struct{ key, value string }

// productionFaults are the settings that --env production refuses, each
// naming its option: the development issuer, authentication off on a
// listener, a weak secret, a listener in plain text beyond loopback.
func (c *Config) productionFaults(targetNames []string) []error {
	var faults []error
	if c.Auth.Dev {
		faults = append(faults, errors.New("auth.dev: the development issuer is not allowed in production: set auth.issuer to your OIDC issuer"))
	}
	faults = append(faults, c.platformConfigs.productionFaults(targetNames)...)
	var secrets []namedSecret
	if slices.Contains(targetNames, "invoicing") {
		secrets = append(secrets, namedSecret{"invoicing.payment_webhook_secret", c.Invoicing.PaymentWebhookSecret})
	}
	secrets = append(secrets, c.platformConfigs.secrets(targetNames)...)
	for _, s := range secrets {
		if err := weakSecret(s); err != nil {
			faults = append(faults, err)
		}
	}
	if !c.TLS.Enabled() {
		for _, l := range c.namedListenAddrs(targetNames) {
			if !loopback(l.addr) {
				faults = append(faults, fmt.Errorf("%s: %q serves plain text beyond loopback: set tls.cert_file and tls.key_file, or listen on 127.0.0.1 behind a TLS proxy", l.key, l.addr))
			}
		}
	}
	return faults
}

// namedListenAddrs are the listen addresses of the named targets.
func (c *Config) namedListenAddrs(targetNames []string) []namedAddr {
	var out []namedAddr
	if slices.Contains(targetNames, "invoicing") {
		out = append(out, namedAddr{"invoicing.listen_addr", c.Invoicing.ListenAddr}, namedAddr{"invoicing.fault_listen_addr", c.Invoicing.FaultListenAddr})
	}
	if slices.Contains(targetNames, "credit") {
		out = append(out, namedAddr{"credit.listen_addr", c.Credit.ListenAddr}, namedAddr{"credit.fault_listen_addr", c.Credit.FaultListenAddr})
	}
	out = append(out, c.platformConfigs.namedListenAddrs(targetNames)...)
	return slices.DeleteFunc(out, func(l namedAddr) bool { return l.addr == "" })
}

// weakSecret refuses a secret that is set and short or a placeholder; an
// empty one turns its feature off and is no fault.
func weakSecret(s namedSecret) error {
	switch {
	case s.value == "":
		return nil
	case slices.Contains(weakSecrets, strings.ToLower(strings.TrimSpace(s.value))):
		return fmt.Errorf("%s: a placeholder, not a secret: generate one (e.g. openssl rand -hex 32)", s.key)
	case len(s.value) < minSecret:
		return fmt.Errorf("%s: %d characters; a secret in production has at least %d (e.g. openssl rand -hex 32)", s.key, len(s.value), minSecret)
	}
	return nil
}

// loopback reports whether addr listens on loopback only: an address with
// no host, or an unspecified one, listens on every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
