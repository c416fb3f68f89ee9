package auth

import "sync/atomic"

// atomicEntries holds the static tokens in force; readers never wait for a
// reload.
type atomicEntries struct{ p atomic.Pointer[[]StaticToken] }

func (a *atomicEntries) load() []StaticToken {
	if p := a.p.Load(); p != nil {
		return *p
	}
	return nil
}

func (a *atomicEntries) store(t []StaticToken) { a.p.Store(&t) }
