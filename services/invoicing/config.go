package invoicing

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is the configuration of the invoicing target.
type Config struct {
	// ListenAddr serves the API, /metrics and health.
	ListenAddr string `yaml:"listen_addr"`
	// FaultListenAddr serves the fault control surface of the chaos
	// controller, apart from the API; empty serves none (`up` sets it to a
	// free loopback port).
	FaultListenAddr string `yaml:"fault_listen_addr"`
	// PostgresDSN selects PostgreSQL; empty keeps the embedded SQLite
	// database under the data directory.
	PostgresDSN string `yaml:"postgres_dsn"`
	// RateLimit is the sustained requests per second of one tenant; 0 turns
	// the limit off. RateBurst is the burst above it.
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
	// OutboxSubscribers lists name=url pairs, comma-separated, that receive
	// the domain events.
	OutboxSubscribers string `yaml:"outbox_subscribers"`
	// PaymentWebhookSecret is the secret payment providers sign their
	// payment reports with; empty serves no payment webhook.
	PaymentWebhookSecret string `yaml:"payment_webhook_secret"`
	// PaymentWebhookTolerance is how far from the clock a report's
	// signature time may be.
	PaymentWebhookTolerance time.Duration `yaml:"payment_webhook_tolerance"`
	// MachineClients lists, comma-separated, the client ids of the machine
	// clients trusted to read any business's invoice history and
	// memberships and to act for the business their token names: the
	// credit service's client.
	MachineClients string `yaml:"machine_clients"`
}

// DefaultMachineClient is the client id of the credit service's machine
// client in development (the development issuer's token endpoint and
// `estate up` use it).
const DefaultMachineClient = "estate-credit"

// MinWebhookSecret is the shortest payment webhook secret accepted: 256
// bits of hex.
const MinWebhookSecret = 32

// RegisterFlags sets the defaults and binds the flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ListenAddr, "invoicing.listen-addr", ":8081", "invoicing API address, with /metrics, /healthz, /readyz")
	fs.StringVar(&c.FaultListenAddr, "invoicing.fault-listen-addr", "", "address of the fault control surface, which accepts faults from the chaos controller only (a token with the chaos scope); empty serves none; keep it on loopback or a private network")
	fs.StringVar(&c.PostgresDSN, "invoicing.postgres-dsn", "", "PostgreSQL DSN of the invoicing database; empty uses SQLite at DATA_DIR/invoicing.db")
	fs.Float64Var(&c.RateLimit, "invoicing.rate-limit", 50, "requests per second allowed to one tenant; 0 disables the limit")
	fs.IntVar(&c.RateBurst, "invoicing.rate-burst", 100, "requests one tenant may send at once above the rate")
	fs.StringVar(&c.OutboxSubscribers, "invoicing.outbox-subscribers", "", "receivers of invoice events as name=url pairs, comma-separated")
	fs.StringVar(&c.PaymentWebhookSecret, "invoicing.payment-webhook-secret", "", "secret payment providers sign payment reports with (POST /v1/webhooks/payments); empty serves no webhook")
	fs.StringVar(&c.MachineClients, "invoicing.machine-clients", DefaultMachineClient, "client ids of the machine clients (client-credentials grant) trusted to read any business's invoice history and memberships, comma-separated: the credit service's")
	fs.DurationVar(&c.PaymentWebhookTolerance, "invoicing.payment-webhook-tolerance", 5*time.Minute, "how far from the clock a payment report's signature time may be")
}

// Validate names the field at fault.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		errs = append(errs, fmt.Errorf("invoicing.listen_addr: must be host:port, not %q", c.ListenAddr))
	}
	if c.FaultListenAddr != "" {
		if _, _, err := net.SplitHostPort(c.FaultListenAddr); err != nil {
			errs = append(errs, fmt.Errorf("invoicing.fault_listen_addr: must be host:port, not %q", c.FaultListenAddr))
		} else if c.FaultListenAddr == c.ListenAddr && !strings.HasSuffix(c.ListenAddr, ":0") {
			errs = append(errs, fmt.Errorf("invoicing.fault_listen_addr: must differ from invoicing.listen_addr: faults are never commanded on the API's port"))
		}
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("invoicing.rate_limit: must not be negative, not %v", c.RateLimit))
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		errs = append(errs, fmt.Errorf("invoicing.rate_burst: must be positive, not %d", c.RateBurst))
	}
	if _, err := c.Subscribers(); err != nil {
		errs = append(errs, err)
	}
	if n := len(c.PaymentWebhookSecret); n > 0 && n < MinWebhookSecret {
		errs = append(errs, fmt.Errorf("invoicing.payment_webhook_secret: must be at least %d characters, not %d", MinWebhookSecret, n))
	}
	if c.PaymentWebhookTolerance <= 0 {
		errs = append(errs, fmt.Errorf("invoicing.payment_webhook_tolerance: must be positive, not %v", c.PaymentWebhookTolerance))
	}
	for _, id := range c.MachineClientIDs() {
		if strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' }) {
			errs = append(errs, fmt.Errorf("invoicing.machine_clients: %q must not hold spaces or control characters", id))
		}
	}
	return errors.Join(errs...)
}

// MachineClientIDs parses MachineClients.
func (c *Config) MachineClientIDs() []string {
	var out []string
	for _, id := range strings.Split(c.MachineClients, ",") {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// Subscriber is one receiver of the outbox.
type Subscriber struct{ Name, URL string }

// Subscribers parses OutboxSubscribers.
func (c *Config) Subscribers() ([]Subscriber, error) {
	var out []Subscriber
	seen := map[string]bool{}
	for _, p := range strings.Split(c.OutboxSubscribers, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		name, raw, ok := strings.Cut(p, "=")
		u, err := url.Parse(raw)
		if !ok || name == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("invoicing.outbox_subscribers: %q must be name=http(s)://host/path", p)
		}
		if seen[name] {
			return nil, fmt.Errorf("invoicing.outbox_subscribers: %q is named twice", name)
		}
		seen[name] = true
		out = append(out, Subscriber{Name: name, URL: raw})
	}
	return out, nil
}
