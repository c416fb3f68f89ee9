package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/rs/zerolog"
)

// Proxies are the TCP proxies a dependency's connections are routed
// through, so that TCP faults can be injected into them: Toxiproxy's own
// proxy and toxics, run in process. Each proxy carries the connections of
// one service to one dependency ("credit" to "invoicing").
type Proxies struct {
	server *toxiproxy.ApiServer

	mu      sync.Mutex
	proxies map[string]*toxiproxy.Proxy
}

// NewProxies returns an empty set of proxies.
func NewProxies() *Proxies {
	return &Proxies{
		server:  toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()),
		proxies: map[string]*toxiproxy.Proxy{},
	}
}

// ProxyName names the proxy of a service's connections to a dependency.
func ProxyName(service, dependency string) string { return service + "/" + dependency }

// Add starts a proxy on loopback forwarding to upstream (host:port) and
// returns the address to dial instead of upstream.
func (p *Proxies) Add(service, dependency, upstream string) (string, error) {
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return "", fmt.Errorf("proxy upstream %q: %w", upstream, err)
	}
	name := ProxyName(service, dependency)
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.proxies[name]; ok {
		old.Stop()
	}
	px := toxiproxy.NewProxy(p.server, name, "127.0.0.1:0", upstream)
	if err := px.Start(); err != nil {
		return "", fmt.Errorf("starting proxy %s: %w", name, err)
	}
	p.proxies[name] = px
	return px.Listen, nil
}

// SetUpstream points a proxy at another upstream, as when the dependency
// restarted on another port.
func (p *Proxies) SetUpstream(service, dependency, upstream string) error {
	p.mu.Lock()
	px, ok := p.proxies[ProxyName(service, dependency)]
	p.mu.Unlock()
	if !ok {
		return errNoProxy(service, dependency)
	}
	return px.Update(&toxiproxy.Proxy{Listen: px.Listen, Upstream: upstream, Enabled: true})
}

// Names lists the proxies, sorted.
func (p *Proxies) Names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.proxies))
	for n := range p.proxies {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Close stops every proxy and closes its connections.
func (p *Proxies) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n, px := range p.proxies {
		px.Stop()
		delete(p.proxies, n)
	}
	return nil
}

func (p *Proxies) proxy(name string) (*toxiproxy.Proxy, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	px, ok := p.proxies[name]
	return px, ok
}

func errNoProxy(service, dependency string) error {
	return fmt.Errorf("no proxy carries %s's connections to %s", service, dependency)
}

// toxic is a Toxiproxy toxic as its API writes it.
type toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// addToxic adds a toxic to the named proxy.
func (p *Proxies) addToxic(proxyName string, t toxic) error {
	px, ok := p.proxy(proxyName)
	if !ok {
		s, d, _ := strings.Cut(proxyName, "/")
		return errNoProxy(s, d)
	}
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encoding toxic: %w", err)
	}
	if _, err := px.Toxics.AddToxicJson(strings.NewReader(string(b))); err != nil {
		return fmt.Errorf("adding toxic %s to %s: %w", t.Name, proxyName, err)
	}
	return nil
}

// removeToxic removes a toxic; one that is gone is not an error.
func (p *Proxies) removeToxic(proxyName, name string) error {
	px, ok := p.proxy(proxyName)
	if !ok {
		return nil
	}
	err := px.Toxics.RemoveToxic(context.Background(), name)
	if err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
		return fmt.Errorf("removing toxic %s from %s: %w", name, proxyName, err)
	}
	return nil
}

// toxics lists the names of a proxy's toxics.
func (p *Proxies) toxics(proxyName string) []string {
	px, ok := p.proxy(proxyName)
	if !ok {
		return nil
	}
	var out []string
	for _, t := range px.Toxics.GetToxicArray() {
		if w, ok := t.(*toxics.ToxicWrapper); ok {
			out = append(out, w.Name)
		}
	}
	return out
}
