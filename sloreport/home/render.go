package home

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/sloreport"
)

//go:embed templates/*.html.tmpl
var templates embed.FS

var page = template.Must(template.New("home.html.tmpl").Funcs(template.FuncMap{
	"pct":     sloreport.FormatOptPercent,
	"perSec":  perSecond,
	"secs":    optSeconds,
	"when":    sloreport.FormatTime,
	"burn":    burnRate,
	"label":   label,
	"seconds": func(d time.Duration) int { return int(d.Seconds()) },
	"since": func(now, t time.Time) string {
		return sloreport.FormatSeconds(now.Sub(t).Truncate(time.Minute).Seconds())
	},
	"percent": sloreport.FormatPercent,
}).ParseFS(templates, "templates/home.html.tmpl", "templates/style.html.tmpl"))

// signIn is the sign-in form, in the home page's style.
var signIn = template.Must(template.ParseFS(templates, "templates/signin.html.tmpl", "templates/style.html.tmpl"))

// SignInForm is what the sign-in form shows.
type SignInForm struct {
	// Next is the local path to go to once signed in.
	Next string
	// Error says why the last token was refused; empty at first.
	Error string
}

// WriteSignIn renders the sign-in form, which posts the token to
// /signin: server-rendered, without scripts or anything fetched from
// elsewhere.
func WriteSignIn(w http.ResponseWriter, status int, f SignInForm) {
	var buf bytes.Buffer
	if err := signIn.Execute(&buf, f); err != nil {
		// The template is fixed and its fields are strings: this cannot
		// fail but for a broken build.
		http.Error(w, "the sign-in form could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// view is what the template reads: the status and the page's settings.
type view struct {
	Status
	Refresh time.Duration
}

// WriteHTML renders st as the home page.
func (p *Page) WriteHTML(w io.Writer, st Status) error {
	return page.Execute(w, view{Status: st, Refresh: p.o.Refresh})
}

// ServeHTTP serves the home page: HTML, or the Status as JSON for a
// request that accepts application/json (and not text/html).
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if accept := r.Header.Get("Accept"); strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html") {
		p.ServeJSON(w, r)
		return
	}
	st := p.Status(r.Context())
	var buf bytes.Buffer
	if err := p.WriteHTML(&buf, st); err != nil {
		p.o.Logger.Error("rendering the home page", "err", err)
		problem.Write(w, r, problem.New(http.StatusInternalServerError, "the home page could not be rendered; the report server's log has the cause"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}

// ServeJSON serves the Status as JSON.
func (p *Page) ServeJSON(w http.ResponseWriter, r *http.Request) {
	st := p.Status(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(st)
}

// perSecond writes a rate: "12.4/s", "0.050/s", sloreport.NoDataText
// when there is none.
func perSecond(r *float64) string {
	if r == nil {
		return sloreport.NoDataText
	}
	digits := 1
	if *r < 1 {
		digits = 3
	}
	return strconv.FormatFloat(*r, 'f', digits, 64) + "/s"
}

// optSeconds writes a duration in seconds, "–" when there is none (a
// deployment that did not reach production has no lead time).
func optSeconds(s *float64) string {
	if s == nil {
		return "–"
	}
	return sloreport.FormatSeconds(*s)
}

// burnRate writes a burn rate: "×0.42", sloreport.NoDataText when
// there is none.
func burnRate(r *float64) string {
	if r == nil {
		return sloreport.NoDataText
	}
	return "×" + strconv.FormatFloat(math.Round(*r*100)/100, 'f', 2, 64)
}

// label writes a status or a fate in words: "rolled back", "no data".
func label(s string) string { return strings.ReplaceAll(s, "_", " ") }
