//go:build !servicesonly

package main

import "github.com/estatehq/estate/internal/auth"

// reportAccess is what each route of the report server requires
// (internal/server serves /healthz, /readyz and /metrics to anyone).
var reportAccess = auth.RouteTable{
	"GET /":               auth.Need(auth.RoleReportsRead),
	"GET /reports":        auth.Need(auth.RoleReportsRead),
	"GET /reports/{file}": auth.Need(auth.RoleReportsRead),
}
