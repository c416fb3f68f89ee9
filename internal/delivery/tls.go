package delivery

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
)

// TLS is a client's TLS configuration.
type TLS struct {
	// Enabled turns TLS on.
	Enabled bool
	// CAFile is a PEM file of CAs trusted besides the system roots.
	CAFile string
	// InsecureSkipVerify accepts any server certificate: for a lab, never
	// for production.
	InsecureSkipVerify bool
}

// Validate checks the settings without loading them. keyPrefix names the
// fields in errors: "jaeger." gives "jaeger.ca_file".
func (t TLS) Validate(keyPrefix string) error {
	var errs []error
	if t.CAFile != "" {
		if !t.Enabled {
			errs = append(errs, fmt.Errorf("%sca_file: needs TLS", keyPrefix))
		}
		if _, err := os.Stat(t.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("%sca_file: %w", keyPrefix, err))
		}
	}
	if t.InsecureSkipVerify && !t.Enabled {
		errs = append(errs, fmt.Errorf("%sinsecure_skip_verify: needs TLS", keyPrefix))
	}
	return errors.Join(errs...)
}

// ClientConfig is the *tls.Config of a client: nil when TLS is off; TLS 1.2
// at least; the system roots and CAFile's certificates trusted. keyPrefix
// names the fields in errors, as in Validate.
func (t TLS) ClientConfig(keyPrefix string) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("%sca_file: %w", keyPrefix, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%sca_file: no PEM certificate in %s", keyPrefix, t.CAFile)
	}
	tc.RootCAs = pool
	return tc, nil
}

// Transport is http.DefaultTransport's settings with the client's TLS
// configuration (ClientConfig's): nil TLS settings when TLS is off.
func (t TLS) Transport(keyPrefix string) (*http.Transport, error) {
	tc, err := t.ClientConfig(keyPrefix)
	if err != nil {
		return nil, err
	}
	tr, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	tr = tr.Clone()
	tr.TLSClientConfig = tc
	return tr, nil
}
