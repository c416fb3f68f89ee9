package invoicingapi

import (
	"context"
	"strings"
	"sync"
	"time"
)

// tokenCacheSize bounds the tokens a cache keeps: one per business (and
// scopes) the service calls for.
const tokenCacheSize = 10_000

// CachedTokens returns a TokenSource that asks src once per business and
// scopes every reuse: signing a token costs the caller a signature and the
// invoicing API a verification, which it then caches by token. reuse must
// be shorter than the lifetime of src's tokens, by more than a call lasts.
func CachedTokens(src TokenSource, reuse time.Duration, now func() time.Time) TokenSource {
	if now == nil {
		now = time.Now
	}
	type entry struct {
		token string
		until time.Time
	}
	var mu sync.Mutex
	cache := map[string]entry{}
	return func(ctx context.Context, business string, scopes []string) (string, error) {
		k := business + "\x00" + strings.Join(scopes, " ")
		t := now()
		mu.Lock()
		e, ok := cache[k]
		mu.Unlock()
		if ok && t.Before(e.until) {
			return e.token, nil
		}
		tok, err := src(ctx, business, scopes)
		if err != nil {
			return "", err
		}
		mu.Lock()
		if len(cache) >= tokenCacheSize {
			clear(cache)
		}
		cache[k] = entry{tok, t.Add(reuse)}
		mu.Unlock()
		return tok, nil
	}
}
