package problem

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"
)

// methods are the methods a 405's Allow header may list.
var methods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions,
}

// NotFound answers 404 for a path no route serves.
func NotFound(w http.ResponseWriter, r *http.Request) {
	Write(w, r, New(http.StatusNotFound, "no such resource"))
}

// MethodNotAllowed answers 405 for a path served for the allow methods
// only, listing them in the Allow header (RFC 9110, section 15.5.6).
func MethodNotAllowed(allow ...string) http.HandlerFunc {
	list := strings.Join(allow, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", list)
		Write(w, r, New(http.StatusMethodNotAllowed, r.Method+" is not allowed here; allowed: "+list))
	}
}

// Route makes r, and the routers mounted on it, answer a path none of its
// routes serves with a 404 problem, and a method no route of the path
// takes with a 405 problem whose Allow header lists those that do. Call
// it on the outermost router, before or after adding the routes.
func Route(r chi.Router) {
	r.NotFound(NotFound)
	// chi gives a custom 405 handler no methods, and its Find takes a
	// subrouter mounted on an exact path for every method; a router of
	// every route's whole pattern, built once the routes are in place,
	// says which methods a path has.
	flat := sync.OnceValue(func() chi.Router {
		flat := chi.NewRouter()
		_ = chi.Walk(r, func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
			if !slices.Contains(methods, method) {
				return nil
			}
			flat.MethodFunc(method, pattern, NotFound)
			if p := strings.TrimSuffix(pattern, "/"); p != pattern && p != "" {
				flat.MethodFunc(method, p, NotFound)
			}
			return nil
		})
		return flat
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		path := req.URL.RawPath
		if path == "" {
			path = req.URL.Path
		}
		var allow []string
		for _, m := range methods {
			if flat().Match(chi.NewRouteContext(), m, path) {
				allow = append(allow, m)
			}
		}
		MethodNotAllowed(allow...)(w, req)
	})
}

// PathParam is the chi URL parameter name of r, unescaped: chi routes on
// the escaped path when there is one, so an id holding a slash (%2F)
// arrives escaped. When the escape is not valid it answers 400 naming
// path.<name>, with what ("the incident id") in the detail, and returns
// false.
func PathParam(w http.ResponseWriter, r *http.Request, name, what string) (string, bool) {
	v := chi.URLParam(r, name)
	if r.URL.RawPath == "" {
		return v, true
	}
	unescaped, err := url.PathUnescape(v)
	if err != nil {
		Write(w, r, New(http.StatusBadRequest, what+" is not a valid escaped path segment",
			FieldError{Message: "is not a valid escaped path segment", Location: "path." + name, Value: v}))
		return "", false
	}
	return unescaped, true
}
