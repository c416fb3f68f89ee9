package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/estatehq/estate/internal/problem"
)

// ErrNoCredentials is a request without a bearer token.
var ErrNoCredentials = errors.New("a bearer token is required")

// ParseAuthorization returns the token of an Authorization header value of
// the Bearer scheme (RFC 6750 §2.1: the scheme, case-insensitive, spaces,
// a token68). ErrNoCredentials when the value is empty; an *Error when it is
// not a bearer token.
func ParseAuthorization(h string) (string, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return "", ErrNoCredentials
	}
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", &Error{Reason: "the Authorization header is not a Bearer token"}
	}
	tok := strings.TrimLeft(rest, " ")
	if !isToken68(tok) {
		return "", &Error{Reason: "malformed bearer token"}
	}
	return tok, nil
}

// isToken68 is RFC 9110's token68: 1*( ALPHA / DIGIT / "-" / "." / "_" /
// "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for _, c := range []byte(body) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// AuthenticatorOptions are what an Authenticator accepts.
type AuthenticatorOptions struct {
	// Verifier checks JWTs; nil accepts none.
	Verifier *Verifier
	// Static are the static tokens; nil accepts none.
	Static *StaticTokens
	Logger *slog.Logger
}

// Authenticator turns a request's credentials (a JWT or a static token)
// into a Principal, and requires roles of it on HTTP routes and gRPC
// methods.
type Authenticator struct{ opts AuthenticatorOptions }

// NewAuthenticator returns an authenticator.
func NewAuthenticator(opts AuthenticatorOptions) *Authenticator {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{opts: opts}
}

// Authenticate reads an Authorization header value: ErrNoCredentials when
// there is none, an *Error when it is refused.
func (a *Authenticator) Authenticate(ctx context.Context, header string) (Principal, error) {
	raw, err := ParseAuthorization(header)
	if err != nil {
		return Principal{}, err
	}
	if a.opts.Static != nil {
		if p, ok := a.opts.Static.Lookup(raw); ok {
			return p, nil
		}
	}
	if a.opts.Verifier == nil {
		return Principal{}, &Error{Reason: "unknown token"}
	}
	return a.opts.Verifier.Verify(ctx, raw)
}

// RoleError is a principal lacking every one of the roles a route accepts;
// its message is safe to show.
type RoleError struct{ Roles []string }

func (e *RoleError) Error() string {
	if len(e.Roles) == 1 {
		return "this needs the role " + e.Roles[0]
	}
	return "this needs one of the roles " + strings.Join(e.Roles, ", ")
}

// authorize authenticates and checks that the principal holds one of roles
// (none: any authenticated principal).
func (a *Authenticator) authorize(ctx context.Context, header string, roles []string) (Principal, error) {
	p, err := a.Authenticate(ctx, header)
	if err != nil {
		return Principal{}, err
	}
	if len(roles) == 0 {
		return p, nil
	}
	for _, r := range roles {
		if p.HasRole(r) {
			return p, nil
		}
	}
	return p, &RoleError{Roles: roles}
}

// reasonOf is the safe text of an authentication error.
func reasonOf(err error) string {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return ErrNoCredentials.Error()
}

// Require is chi middleware that lets a request through when its bearer
// token (a JWT or a static token; on a GET or HEAD without an
// Authorization header, the session cookie's) holds one of roles, with
// the Principal in its context. Otherwise it answers problem+json: 401 with
// `WWW-Authenticate: Bearer` without valid credentials, 403 naming the
// roles when they are missing.
func (a *Authenticator) Require(roles ...string) func(http.Handler) http.Handler {
	return a.require(guardOptions{}, roles)
}

// require is Require; a GET or HEAD may also carry its token in the
// session cookie, and with o.signIn a browser without valid credentials
// is sent to the sign-in page.
func (a *Authenticator) require(o guardOptions, roles []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			header, fromCookie := credentials(r)
			p, err := a.authorize(r.Context(), header, roles)
			var re *RoleError
			if err != nil && !errors.As(err, &re) && o.signIn != "" && safeMethod(r.Method) && wantsHTML(r) {
				if fromCookie {
					ClearSession(w, r)
				}
				http.Redirect(w, r, o.signIn+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			switch {
			case errors.As(err, &re):
				a.opts.Logger.InfoContext(r.Context(), "access refused", "who", p.Who(), "needs", re.Roles,
					"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
				w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
				problem.Write(w, r, problem.New(http.StatusForbidden, re.Error()))
			case errors.Is(err, ErrNoCredentials):
				w.Header().Set("WWW-Authenticate", "Bearer")
				problem.Write(w, r, problem.New(http.StatusUnauthorized, ErrNoCredentials.Error()))
			case err != nil:
				a.opts.Logger.DebugContext(r.Context(), "token refused", "reason", reasonOf(err))
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				problem.Write(w, r, problem.New(http.StatusUnauthorized, reasonOf(err)))
			default:
				next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
			}
		})
	}
}

// grpcAuthorize reads the authorization metadata of a gRPC call.
func (a *Authenticator) grpcAuthorize(ctx context.Context, roles []string) (context.Context, error) {
	var header string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			header = v[0]
		}
	}
	p, err := a.authorize(ctx, header, roles)
	var re *RoleError
	switch {
	case errors.As(err, &re):
		return nil, status.Error(codes.PermissionDenied, re.Error())
	case err != nil:
		return nil, status.Error(codes.Unauthenticated, reasonOf(err))
	}
	return NewContext(ctx, p), nil
}

// UnaryServerInterceptor does for gRPC unary calls what Require does for
// HTTP: codes.Unauthenticated without valid credentials,
// codes.PermissionDenied without one of roles.
func (a *Authenticator) UnaryServerInterceptor(roles ...string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.grpcAuthorize(ctx, roles)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streams.
func (a *Authenticator) StreamServerInterceptor(roles ...string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.grpcAuthorize(ss.Context(), roles)
		if err != nil {
			return err
		}
		return handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
	}
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }
