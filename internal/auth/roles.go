package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The roles a principal may hold. Each entry point of a target requires one;
// RoleAdmin implies all of them.
const (
	RoleTelemetryWrite    = "telemetry.write"
	RoleEventsWrite       = "events.write"
	RoleObservabilityRead = "observability.read"
	RoleReportsRead       = "reports.read"
	RoleChaosOperate      = "chaos.operate"
	RoleChaosHalt         = "chaos.halt"
	RoleAdmin             = "admin"
)

// Roles lists every role, in a stable order.
var Roles = []string{
	RoleTelemetryWrite, RoleEventsWrite, RoleObservabilityRead, RoleReportsRead,
	RoleChaosOperate, RoleChaosHalt, RoleAdmin,
}

// Defaults of the role mapping: Cognito's groups claim, its resource-server
// scope prefix, and one group per kind of engineer.
const (
	DefaultGroupsClaim = "cognito:groups"
	DefaultScopePrefix = "estate/"
	DefaultGroupRoles  = "estate-sre=chaos.operate,chaos.halt,observability.read;" +
		"estate-oncall=chaos.halt,observability.read;" +
		"estate-leadership=reports.read;" +
		"estate-admin=admin"
)

// RoleMapping derives a principal's roles from its token: a scope equal to a
// role name (bare, or after one of ScopePrefixes, as Cognito writes
// resource-server scopes: `estate/telemetry.write`), and the roles Groups
// grants to each group the token's GroupsClaim names.
type RoleMapping struct {
	ScopePrefixes []string
	GroupsClaim   string
	Groups        map[string][]string
}

// Roles returns the sorted, distinct roles the scopes and groups grant.
func (m RoleMapping) Roles(scopes, groups []string) []string {
	var out []string
	for _, s := range scopes {
		if isRole(s) {
			out = append(out, s)
			continue
		}
		for _, p := range m.ScopePrefixes {
			if r, ok := strings.CutPrefix(s, p); ok && p != "" && isRole(r) {
				out = append(out, r)
			}
		}
	}
	for _, g := range groups {
		out = append(out, m.Groups[g]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func isRole(s string) bool { return slices.Contains(Roles, s) }

// ParseGroupRoles reads a mapping written
// `group=role,role;group=role`; every role must be known.
func ParseGroupRoles(s string) (map[string][]string, error) {
	out := map[string][]string{}
	var errs []error
	for _, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		group, list, ok := strings.Cut(entry, "=")
		group = strings.TrimSpace(group)
		if !ok || group == "" {
			errs = append(errs, fmt.Errorf("entry %q: want group=role,role", entry))
			continue
		}
		for _, r := range splitList(list) {
			if !isRole(r) {
				errs = append(errs, fmt.Errorf("group %q: unknown role %q (known: %s)", group, r, strings.Join(Roles, ", ")))
				continue
			}
			out[group] = append(out[group], r)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
