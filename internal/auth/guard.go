package auth

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
	"google.golang.org/grpc"
)

// Access is what one route requires: nothing (Public), or a principal
// holding one of Roles.
type Access struct {
	Public bool
	Roles  []string
}

// Public is the access of a route anyone may call.
var Public = Access{Public: true}

// Need is the access of a route that needs one of roles.
func Need(roles ...string) Access { return Access{Roles: roles} }

// String is the access as the route tables of the docs write it.
func (a Access) String() string {
	if a.Public {
		return "public"
	}
	return strings.Join(a.Roles, " or ")
}

// RouteTable is a target's access policy: what each route requires, keyed
// by RouteKey (an HTTP route: `GET /v1/logs`, with chi's pattern) or by a
// gRPC method's full name (`/opentelemetry.proto.collector.trace.v1.TraceService/Export`).
type RouteTable map[string]Access

// RouteKey is the key of an HTTP route in a RouteTable.
func RouteKey(method, pattern string) string { return method + " " + pattern }

// Of is what the route key requires. A route the table does not list
// needs RoleAdmin: a route added without an entry is closed, not open.
func (t RouteTable) Of(key string) Access {
	if a, ok := t[key]; ok {
		return a
	}
	return Need(RoleAdmin)
}

// Guard is middleware in front of routes (a chi router) that requires of
// each request what table says of the route it reaches, as Require does.
// A request that reaches no route passes, to be answered 404 or 405 by
// the router. A GET or HEAD without an Authorization header may carry the
// token in the session cookie (SessionCookie).
func (a *Authenticator) Guard(routes chi.Routes, table RouteTable, opts ...GuardOption) func(http.Handler) http.Handler {
	var o guardOptions
	for _, opt := range opts {
		opt(&o)
	}
	return func(next http.Handler) http.Handler {
		guarded := map[string]http.Handler{}
		for key, acc := range table {
			if !acc.Public {
				guarded[key] = a.require(o, acc.Roles)(next)
			}
		}
		closed := a.require(o, []string{RoleAdmin})(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			path := r.URL.RawPath
			if path == "" {
				path = r.URL.Path
			}
			pattern := routes.Find(chi.NewRouteContext(), r.Method, path)
			if pattern == "" {
				next.ServeHTTP(w, r)
				return
			}
			key := RouteKey(r.Method, pattern)
			if acc, ok := table[key]; ok && acc.Public {
				next.ServeHTTP(w, r)
				return
			}
			h, ok := guarded[key]
			if !ok {
				h = closed
			}
			h.ServeHTTP(w, r)
		})
	}
}

// Walk lists the route keys of routes, sorted: what a RouteTable of them
// must list.
func Walk(routes chi.Routes) ([]string, error) {
	var keys []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		keys = append(keys, RouteKey(method, route))
		return nil
	})
	slices.Sort(keys)
	return slices.Compact(keys), err
}

// GRPCMethods lists the full names of the methods s serves, sorted.
func GRPCMethods(s *grpc.Server) []string {
	var out []string
	for svc, info := range s.GetServiceInfo() {
		for _, m := range info.Methods {
			out = append(out, "/"+svc+"/"+m.Name)
		}
	}
	slices.Sort(out)
	return out
}

// UnaryGuard is Guard for gRPC unary calls, keyed by the method's full
// name: codes.Unauthenticated without valid credentials,
// codes.PermissionDenied without one of the roles.
func (a *Authenticator) UnaryGuard(table RouteTable) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		acc := table.Of(info.FullMethod)
		if acc.Public {
			return handler(ctx, req)
		}
		return a.UnaryServerInterceptor(acc.Roles...)(ctx, req, info, handler)
	}
}

// StreamGuard is UnaryGuard for streams.
func (a *Authenticator) StreamGuard(table RouteTable) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		acc := table.Of(info.FullMethod)
		if acc.Public {
			return handler(srv, ss)
		}
		return a.StreamServerInterceptor(acc.Roles...)(srv, ss, info, handler)
	}
}
