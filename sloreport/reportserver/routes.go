package reportserver

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/internal/problem"
)

// routes lists the whole surface of the report server (internal/server
// adds /healthz, /readyz and /metrics):
//
//	GET /                       the home page: the estate now (JSON for Accept: application/json); without Options.Home, a redirect to /reports/latest
//	GET /v1/status              the home page's figures as JSON (with Options.Home)
//	GET /reports/latest         the latest report, in HTML: the last complete week's
//	GET /reports                the archive: every archived week, newest first (HTML, or JSON for Accept: application/json)
//	GET /reports/{week}.{ext}   a week's report: .html, .md, .json or .txt; generated on demand when not archived
//	POST /reports/{week}/publish generate and archive a week's report now, and post its summary to the webhook (what the schedule does)
//	GET /signin                 the sign-in form, where a browser pastes a token (with Options.SignIn)
//	POST /signin                set the session cookie to the pasted token when it verifies, and go to the form's next path
//	POST /signout               clear the session cookie
//
// and what Options.Extra mounts; other paths and methods are answered
// with problem details.
func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	problem.Route(r)
	if s.o.Home != nil {
		r.Get("/", s.o.Home.ServeHTTP)
		r.Get("/v1/status", s.o.Home.ServeJSON)
	} else {
		r.Get("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/reports/latest", http.StatusFound) })
	}
	r.Get("/reports/latest", s.handleLatest())
	r.Get("/reports", s.handleArchive())
	r.Get("/reports/{file}", s.handleReport())
	r.Post("/reports/{week}/publish", s.handlePublish())
	if s.o.SignIn != nil {
		r.Get(SignInPath, s.handleSignInForm())
		r.Post(SignInPath, s.handleSignIn())
		r.Post("/signout", s.handleSignOut())
	}
	if s.o.Extra != nil {
		s.o.Extra(r)
	}
	return r
}
