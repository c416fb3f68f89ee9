// Package intake holds, in its subpackages, the mappers of third-party
// payloads onto the metrics area's events: CDEvents, Alertmanager
// webhooks, GitHub deployment_status and CircleCI workflow webhooks. They
// are pure functions of a payload (and, where the sender signs it, its
// signature) with no I/O, so the events API (metrics/http) may use them
// although they sit beside it; an adapter imports no other adapter.
//
// This package holds what they share: a Batch, what a payload of several
// items (the alerts of an Alertmanager notification) maps to, item by
// item, so that one item that cannot be mapped never costs the others.
package intake
