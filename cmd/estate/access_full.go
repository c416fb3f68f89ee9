//go:build !servicesonly

package main

import (
	"github.com/estatehq/estate/internal/auth"
	reviewhttp "github.com/estatehq/estate/sloreport/review/http"
)

// reportAccess is what each route of the report server requires
// (internal/server serves /healthz, /readyz and /metrics to anyone).
var reportAccess = auth.RouteTable{
	"GET /":               auth.Need(auth.RoleReportsRead),
	"GET /v1/status":      auth.Need(auth.RoleReportsRead),
	"GET /reports/latest": auth.Need(auth.RoleReportsRead),
	"GET /reports":        auth.Need(auth.RoleReportsRead),
	"GET /reports/{file}": auth.Need(auth.RoleReportsRead),
	// Publishing archives and posts to the webhook: only the weekly
	// CronJob's token, an admin's.
	"POST /reports/{week}/publish": auth.Need(auth.RoleAdmin),
	// The sign-in page: a browser cannot send a bearer token before it
	// has one. POST /signin sets the session cookie only for a token
	// that verifies; signing out only clears it.
	"GET /signin":   auth.Public,
	"POST /signin":  auth.Public,
	"POST /signout": auth.Public,
}

// collectorAccess is what each route of the collector's API port requires
// (internal/server serves /healthz, /readyz and /metrics to anyone; the
// OTLP listeners require otlp.Access).
func collectorAccess() auth.RouteTable {
	read, write := auth.Need(auth.RoleObservabilityRead), auth.Need(auth.RoleEventsWrite)
	t := auth.RouteTable{
		"GET /v1/logs":                     read,
		"GET /v1/traces":                   read,
		"GET /v1/traces/{trace_id}":        read,
		"GET /v1/dora":                     read,
		"GET /v1/slos":                     read,
		"GET /v1/slos/{name}":              read,
		"GET " + reviewhttp.DefaultPattern: read,
		"GET /v1/analyses":                 read,
		"GET /v1/analyses/{deployment_id}": read,
		"POST /v1/events":                  write,
		"POST /v1/events/cdevents":         write,
		"POST /v1/events/alertmanager":     write,
		// GitHub and CircleCI sign their webhooks; the intakes verify the
		// signature with events.github_secret and events.circleci_secret.
		"POST /v1/events/github":   auth.Public,
		"POST /v1/events/circleci": auth.Public,
	}
	for _, p := range []string{"/query", "/query_range", "/series", "/labels", "/query_exemplars"} {
		t["GET /api/v1"+p], t["POST /api/v1"+p] = read, read
	}
	for _, p := range []string{"/label/{name}/values", "/metadata", "/status/buildinfo", "/rules", "/alerts"} {
		t["GET /api/v1"+p] = read
	}
	return t
}
