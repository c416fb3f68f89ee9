package credit

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is the configuration of the credit target.
type Config struct {
	// ListenAddr serves the API, the event receiver, /metrics and health.
	ListenAddr string `yaml:"listen_addr"`
	// FaultListenAddr serves the fault control surface of the chaos
	// controller, apart from the API; empty serves none (`up` sets it to a
	// free loopback port).
	FaultListenAddr string `yaml:"fault_listen_addr"`
	// PostgresDSN selects PostgreSQL; empty keeps the embedded SQLite
	// database under the data directory.
	PostgresDSN string `yaml:"postgres_dsn"`
	// InvoicingURL is the invoicing API the decisions and drawdowns ask.
	InvoicingURL string `yaml:"invoicing_url"`
	// InvoicingTimeout bounds one call to the invoicing API.
	InvoicingTimeout time.Duration `yaml:"invoicing_timeout"`
	// RateLimit is the sustained requests per second of one tenant; 0 turns
	// the limit off. RateBurst is the burst above it.
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
	// ReconcileInterval is how often active drawdowns not heard of for
	// ReconcileAfter are checked with the invoicing service.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	ReconcileAfter    time.Duration `yaml:"reconcile_after"`
	// TrustedPayments lists, comma-separated, the provenances of the
	// payments the credit policy counts (see Trust); DefaultTrust() by
	// default.
	TrustedPayments string `yaml:"trusted_payments"`
	// InvoicingClientID, InvoicingClientSecretFile and InvoicingTokenURL
	// make credit fetch its machine tokens for the invoicing API by the
	// OAuth 2.0 client-credentials grant; all three or none.
	InvoicingClientID         string `yaml:"invoicing_client_id"`
	InvoicingClientSecretFile string `yaml:"invoicing_client_secret_file"`
	InvoicingTokenURL         string `yaml:"invoicing_token_url"`
}

// DefaultInvoicingURL is the invoicing API on its default local port.
const DefaultInvoicingURL = "http://127.0.0.1:8081"

// RegisterFlags sets the defaults and binds the flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ListenAddr, "credit.listen-addr", ":8082", "credit API address, with /metrics, /healthz, /readyz")
	fs.StringVar(&c.FaultListenAddr, "credit.fault-listen-addr", "", "address of the fault control surface, which accepts faults from the chaos controller only (a token with the chaos scope); empty serves none; keep it on loopback or a private network")
	fs.StringVar(&c.PostgresDSN, "credit.postgres-dsn", "", "PostgreSQL DSN of the credit database; empty uses SQLite at DATA_DIR/credit.db")
	fs.StringVar(&c.InvoicingURL, "credit.invoicing-url", DefaultInvoicingURL, "base URL of the invoicing API")
	fs.DurationVar(&c.InvoicingTimeout, "credit.invoicing-timeout", 800*time.Millisecond, "timeout of one call to the invoicing API")
	fs.Float64Var(&c.RateLimit, "credit.rate-limit", 50, "requests per second allowed to one tenant; 0 disables the limit")
	fs.IntVar(&c.RateBurst, "credit.rate-burst", 100, "requests one tenant may send at once above the rate")
	fs.DurationVar(&c.ReconcileInterval, "credit.reconcile-interval", time.Minute, "how often financed invoices are checked with the invoicing service")
	fs.DurationVar(&c.ReconcileAfter, "credit.reconcile-after", 15*time.Minute, "check a financed invoice not heard of for this long")
	fs.StringVar(&c.TrustedPayments, "credit.trusted-payments", DefaultTrust().String(),
		"provenances of the payments that count in decisions and repayments, comma-separated: issuer_recorded, customer_confirmed, provider_reported")
	fs.StringVar(&c.InvoicingClientID, "credit.invoicing-client-id", "", "OAuth client id whose client-credentials tokens call the invoicing API; empty mints them with the development issuer (auth.dev)")
	fs.StringVar(&c.InvoicingClientSecretFile, "credit.invoicing-client-secret-file", "", "file holding the secret of credit.invoicing-client-id")
	fs.StringVar(&c.InvoicingTokenURL, "credit.invoicing-token-url", "", "token endpoint of the issuer, e.g. https://DOMAIN.auth.REGION.amazoncognito.com/oauth2/token")
}

// Trust is the policy's trust of TrustedPayments.
func (c *Config) Trust() (Trust, error) {
	t, err := ParseTrust(c.TrustedPayments)
	if err != nil {
		return nil, fmt.Errorf("credit.trusted_payments: %w", err)
	}
	return t, nil
}

// Validate names the field at fault.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		errs = append(errs, fmt.Errorf("credit.listen_addr: must be host:port, not %q", c.ListenAddr))
	}
	if c.FaultListenAddr != "" {
		if _, _, err := net.SplitHostPort(c.FaultListenAddr); err != nil {
			errs = append(errs, fmt.Errorf("credit.fault_listen_addr: must be host:port, not %q", c.FaultListenAddr))
		} else if c.FaultListenAddr == c.ListenAddr && !strings.HasSuffix(c.ListenAddr, ":0") {
			errs = append(errs, fmt.Errorf("credit.fault_listen_addr: must differ from credit.listen_addr: faults are never commanded on the API's port"))
		}
	}
	if u, err := url.Parse(c.InvoicingURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("credit.invoicing_url: must be http(s)://host[:port], not %q", c.InvoicingURL))
	}
	if c.InvoicingTimeout <= 0 {
		errs = append(errs, fmt.Errorf("credit.invoicing_timeout: must be positive, not %v", c.InvoicingTimeout))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("credit.rate_limit: must not be negative, not %v", c.RateLimit))
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		errs = append(errs, fmt.Errorf("credit.rate_burst: must be positive, not %d", c.RateBurst))
	}
	if c.ReconcileInterval <= 0 {
		errs = append(errs, fmt.Errorf("credit.reconcile_interval: must be positive, not %v", c.ReconcileInterval))
	}
	if c.ReconcileAfter <= 0 {
		errs = append(errs, fmt.Errorf("credit.reconcile_after: must be positive, not %v", c.ReconcileAfter))
	}
	if _, err := c.Trust(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateClient()...)
	return errors.Join(errs...)
}

// validateClient checks the client-credentials settings: all or none.
func (c *Config) validateClient() []error {
	if c.InvoicingClientID == "" && c.InvoicingClientSecretFile == "" && c.InvoicingTokenURL == "" {
		return nil
	}
	var errs []error
	if c.InvoicingClientID == "" {
		errs = append(errs, errors.New("credit.invoicing_client_id: must be set with the other client-credentials settings"))
	}
	if c.InvoicingClientSecretFile == "" {
		errs = append(errs, errors.New("credit.invoicing_client_secret_file: must be set with credit.invoicing_client_id"))
	}
	if u, err := url.Parse(c.InvoicingTokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("credit.invoicing_token_url: must be an http(s) URL, not %q", c.InvoicingTokenURL))
	}
	return errs
}
