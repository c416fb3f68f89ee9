// Package demo is what `estate up --demo` runs beside the targets, so
// that a newcomer sees the whole estate at work in one command: customer
// traffic on the invoicing and credit APIs (workload.go), the delivery
// history of the past weeks posted to the collector's events API
// (history.go), and a game day of chaos experiments on a schedule
// (gameday.go). It is a client of the targets' public APIs only,
// authenticated with tokens of the development issuer.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	chaoshttp "github.com/estatehq/estate/chaos/http"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/services/kit/fault"
)

// Issuer signs tokens: the development issuer of `estate token`.
type Issuer interface {
	Sign(auth.TokenRequest) (string, error)
}

// Options are what the demo is given.
type Options struct {
	Config Config
	// The targets' base URLs.
	InvoicingURL, CollectorURL, CreditURL, ChaosURL string
	// InvoicingFaultURL is invoicing's fault surface, where the bad
	// release places its failures; empty ships no bad release.
	InvoicingFaultURL string
	// Issuer signs the tokens of the businesses' users and of the demo's
	// own calls to the collector and the chaos controller.
	Issuer Issuer
	// Dir keeps the demo's state: the day of its first start, the
	// history's present. Empty keeps none: the history ends today.
	Dir string
	// BusinessClaim is the claim of a token's business id (auth.business-claim).
	BusinessClaim string
	// Transport carries the requests; nil is http.DefaultTransport.
	Transport http.RoundTripper
	Logger    *slog.Logger
	Now       func() time.Time
}

// Demo runs the parts of the demo that its configuration turns on.
type Demo struct {
	o      Options
	tokens *tokenCache
	w      *workload
	// faults commands invoicing's failures for the bad release.
	faults    *fault.Client
	release   release
	rollbacks *http.Server

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a demo of o; Start runs it.
func New(o Options) (*Demo, error) {
	if o.Issuer == nil {
		return nil, errNoIssuer
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport
	}
	for _, u := range []*string{&o.InvoicingURL, &o.CreditURL, &o.CollectorURL, &o.ChaosURL} {
		*u = strings.TrimRight(*u, "/")
	}
	d := &Demo{o: o, tokens: &tokenCache{issuer: o.Issuer, claim: o.BusinessClaim, now: o.Now, cache: map[string]cachedToken{}}}
	if o.InvoicingFaultURL != "" && o.Config.BadRelease {
		fc, err := fault.NewClient(fault.ClientOptions{URL: o.InvoicingFaultURL, HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: o.Transport},
			Token: func(context.Context) (string, error) { return d.tokens.get("estate-demo", "", auth.RoleChaosOperate) }})
		if err != nil {
			return nil, fmt.Errorf("demo bad release: %w", err)
		}
		d.faults = fc
	}
	d.w = &workload{o: &d.o, hc: &http.Client{Timeout: 30 * time.Second, Transport: o.Transport}, tokens: d.tokens, sent: map[string]int64{},
		rng: rand.New(rand.NewPCG(o.Config.Seed, uint64(o.Now().UnixNano())))} //nolint:gosec // traffic, not a secret
	return d, nil
}

// Start posts the history, schedules the game day and registers the
// businesses, then sends the traffic in the background until Shutdown.
func (d *Demo) Start(ctx context.Context) error {
	c := d.o.Config
	if c.History {
		hc := d.client(auth.RoleEventsWrite)
		anchor, err := Anchor(d.o.Dir, d.o.Now())
		if err != nil {
			return fmt.Errorf("demo history: %w", err)
		}
		events := History(c.Seed, c.Weeks, anchor, d.o.Now())
		n, err := PostHistory(ctx, hc, d.o.CollectorURL, events)
		if err != nil {
			return fmt.Errorf("demo history: %w", err)
		}
		d.o.Logger.Info("demo history posted", "events", len(events), "new", n, "weeks", c.Weeks)
	}
	if c.Chaos {
		if err := ScheduleChaos(ctx, chaoshttp.NewClient(d.o.ChaosURL, d.client(auth.RoleChaosOperate)), c.ChaosEvery); err != nil {
			return fmt.Errorf("demo chaos: %w", err)
		}
		d.o.Logger.Info("demo game day scheduled", "every", c.ChaosEvery)
		if _, err := OpeningRun(ctx, chaoshttp.NewClient(d.o.ChaosURL, d.client(auth.RoleChaosOperate)), c.ChaosEvery); err != nil {
			return fmt.Errorf("demo chaos: %w", err)
		}
	}
	if c.Rate > 0 {
		if err := d.w.setup(ctx); err != nil {
			return fmt.Errorf("demo traffic: %w", err)
		}
		runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		d.cancel = cancel
		d.wg.Go(func() { d.w.run(runCtx) })
		d.o.Logger.Info("demo traffic started", "rate", c.Rate, "businesses", len(d.w.biz))
		if d.faults != nil {
			d.wg.Go(func() { d.shipBadRelease(runCtx) })
		}
	}
	return nil
}

// Shutdown stops the traffic and waits for the requests in flight, until
// ctx ends.
func (d *Demo) Shutdown(ctx context.Context) error {
	if d.cancel != nil {
		d.cancel()
	}
	if d.rollbacks != nil {
		_ = d.rollbacks.Shutdown(ctx)
	}
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		d.o.Logger.Info("demo traffic stopped", "sent", d.w.Sent(), "skipped", d.w.skipped.Load())
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the demo's requests: %w", ctx.Err())
	}
}

// Businesses are the businesses the traffic trades between.
func (d *Demo) Businesses() []Business { return d.w.biz }

// Sent counts the requests sent so far, by status class ("2xx", "4xx",
// "5xx", and "error" for no answer).
func (d *Demo) Sent() map[string]int64 { return d.w.Sent() }

// client is an HTTP client of the demo's own user, holding roles.
func (d *Demo) client(roles ...string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &auth.Transport{Base: d.o.Transport, Token: func(context.Context) (string, error) {
		return d.tokens.get("estate-demo", "", roles...)
	}}}
}

// tokenCache keeps a token per user, business and roles while it has
// more than renewBefore to live.
type tokenCache struct {
	issuer Issuer
	claim  string
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cachedToken
}

type cachedToken struct {
	token   string
	renewAt time.Time
}

const (
	tokenTTL    = time.Hour
	renewBefore = 10 * time.Minute
)

func (c *tokenCache) get(sub, business string, scopes ...string) (string, error) {
	key := sub + "\x00" + business + "\x00" + strings.Join(scopes, " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if t, ok := c.cache[key]; ok && now.Before(t.renewAt) {
		return t.token, nil
	}
	tok, err := c.issuer.Sign(auth.TokenRequest{Subject: sub, BusinessID: business, Scopes: scopes, TTL: tokenTTL, BusinessClaim: c.claim})
	if err != nil {
		return "", errors.Join(errors.New("signing a demo token"), err)
	}
	c.cache[key] = cachedToken{token: tok, renewAt: now.Add(tokenTTL - renewBefore)}
	return tok, nil
}
