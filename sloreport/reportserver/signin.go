package reportserver

import (
	"errors"
	"net/http"
	"strings"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/sloreport/home"
)

// maxSignInBody bounds a sign-in form: a token and a path, a few
// kilobytes at most.
const maxSignInBody = 16 << 10

// SignInPath is the sign-in page, where a browser (which cannot send an
// Authorization header) trades a pasted token for the session cookie.
const SignInPath = "/signin"

// handleSignInForm serves the sign-in form.
func (s *Server) handleSignInForm() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		home.WriteSignIn(w, http.StatusOK, home.SignInForm{Next: auth.SafeNext(r.URL.Query().Get("next"))})
	}
}

// handleSignIn sets the session cookie to the pasted token when it
// verifies, as the guard would verify it, and holds the role the pages
// need; then redirects to the form's `next`, a path of this server.
// Otherwise it shows the form again, saying why, and sets nothing.
func (s *Server) handleSignIn() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxSignInBody)
		if err := r.ParseForm(); err != nil {
			msg := "the form could not be read"
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				msg = "the form is too large: a token is a few kilobytes at most"
			}
			home.WriteSignIn(w, http.StatusBadRequest, home.SignInForm{Next: "/", Error: msg})
			return
		}
		next := auth.SafeNext(r.PostForm.Get("next"))
		fail := func(msg string) {
			home.WriteSignIn(w, http.StatusBadRequest, home.SignInForm{Next: next, Error: msg})
		}
		token := strings.TrimSpace(r.PostForm.Get("token"))
		if t, ok := strings.CutPrefix(token, "Bearer "); ok {
			token = strings.TrimSpace(t)
		}
		if token == "" {
			fail("token: paste a bearer token")
			return
		}
		p, exp, err := s.o.SignIn.VerifySession(r.Context(), token)
		if err != nil {
			var ae *auth.Error
			if !errors.As(err, &ae) {
				fail("token: the token could not be checked; try again")
				return
			}
			fail("token: refused: " + ae.Reason)
			return
		}
		if !p.HasRole(auth.RoleReportsRead) {
			fail("token: it lacks the role " + auth.RoleReportsRead + "; mint one with --scope " + auth.RoleReportsRead)
			return
		}
		s.o.Logger.InfoContext(r.Context(), "signed in", "who", p.Who(), "remote", r.RemoteAddr)
		auth.SetSession(w, r, token, exp, s.o.Now())
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

// handleSignOut clears the session cookie and goes back to the form.
func (s *Server) handleSignOut() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth.ClearSession(w, r)
		http.Redirect(w, r, SignInPath, http.StatusSeeOther)
	}
}
