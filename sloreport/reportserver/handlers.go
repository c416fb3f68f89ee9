package reportserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/sloreport"
)

// formatOf is the format of a file name's extension.
var formatOf = map[string]sloreport.Format{
	"html": sloreport.HTML, "md": sloreport.Markdown, "json": sloreport.JSON, "txt": sloreport.Text,
}

// report is a week's report in format f: the archive's, or generated now.
func (s *Server) report(ctx context.Context, w sloreport.ISOWeek, f sloreport.Format) ([]byte, error) {
	b, err := s.o.Archive.Get(w, f)
	if !errors.Is(err, ErrNotArchived) {
		return b, err
	}
	r, err := s.o.Generate(ctx, w)
	s.metrics.generated(triggerRequest, err)
	if err != nil {
		return nil, fmt.Errorf("generating report %s: %w", w, err)
	}
	var buf bytes.Buffer
	if err := r.Render(&buf, f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// serve answers with a week's report, or the problem that kept it.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, week sloreport.ISOWeek, f sloreport.Format) {
	if week.Start().After(s.o.Now()) {
		problem.Write(w, r, problem.New(http.StatusNotFound, fmt.Sprintf("week %s has not started", week)))
		return
	}
	b, err := s.report(r.Context(), week, f)
	if err != nil {
		s.o.Logger.Error("serving a report", "week", week.String(), "format", string(f), "err", err)
		problem.Write(w, r, problem.New(http.StatusInternalServerError, "the report could not be generated; the report server's log has the cause"))
		return
	}
	w.Header().Set("Content-Type", f.ContentType())
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}

// handleLatest serves the last complete week's report.
func (s *Server) handleLatest() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, sloreport.WeekOf(s.o.Now()).Add(-1), sloreport.HTML)
	}
}

// handleReport serves /reports/{week}.{ext}.
func (s *Server) handleReport() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		file := chi.URLParam(r, "file")
		name, ext, ok := strings.Cut(file, ".")
		f, known := formatOf[ext]
		if !ok || !known {
			problem.Write(w, r, problem.New(http.StatusNotFound, fmt.Sprintf("no report %q: ask for WEEK.html, WEEK.md, WEEK.json or WEEK.txt, such as 2026-W45.html", file)))
			return
		}
		week, err := sloreport.ParseWeek(name)
		if err != nil {
			problem.Write(w, r, problem.New(http.StatusBadRequest, err.Error(), problem.FieldError{Message: err.Error(), Location: "path.week", Value: name}))
			return
		}
		s.serve(w, r, week, f)
	}
}

// handlePublish serves POST /reports/{week}/publish: the week's report is
// generated, archived (replacing an archived one) and its summary posted,
// as the schedule does; the answer lists where to read it.
func (s *Server) handlePublish() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "week")
		week, err := sloreport.ParseWeek(name)
		if err != nil {
			problem.Write(w, r, problem.New(http.StatusBadRequest, err.Error(), problem.FieldError{Message: err.Error(), Location: "path.week", Value: name}))
			return
		}
		if week.End().After(s.o.Now()) {
			msg := fmt.Sprintf("week %s has not ended: only a complete week is published", week)
			problem.Write(w, r, problem.New(http.StatusConflict, msg, problem.FieldError{Message: msg, Location: "path.week", Value: name}))
			return
		}
		if err := s.publish(r.Context(), week, triggerPublish); err != nil {
			s.o.Logger.Error("publishing the weekly report", "week", week.String(), "err", err)
			problem.Write(w, r, problem.New(http.StatusInternalServerError, "the report could not be generated or archived; the report server's log has the cause"))
			return
		}
		p := "/reports/" + week.String()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", p+".html")
		_ = json.NewEncoder(w).Encode(map[string]string{"week": week.String(), "html": p + ".html", "markdown": p + ".md", "json": p + ".json", "text": p + ".txt"})
	}
}

var archiveTemplate = template.Must(template.New("archive").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reliability reports</title>
<style>
body { font: 15px/1.5 "Liberation Sans", Arial, Helvetica, sans-serif; color: #1a202c; margin: 0 auto; padding: 16px; max-width: 186mm; }
li { margin: .3em 0; }
a { color: #2b6cb0; }
.muted { color: #4a5568; }
</style>
</head>
<body>
<h1>Reliability reports</h1>
<p><a href="/">Status now</a> · <a href="/reports/latest">the latest report</a> ({{.Latest}}) · <a href="/reports/{{.Current}}.html">this week so far</a> ({{.Current}})</p>
<h2>Archive</h2>
{{if .Weeks}}<ul>
{{range .Weeks}}<li><a href="/reports/{{.}}.html">{{.}}</a> <span class="muted">(<a href="/reports/{{.}}.md">Markdown</a>, <a href="/reports/{{.}}.json">JSON</a>, <a href="/reports/{{.}}.txt">text</a>)</span></li>
{{end}}</ul>{{else}}<p class="muted">No report archived yet: the schedule archives the last complete week's.</p>{{end}}
</body>
</html>
`))

// handleArchive lists the archived weeks.
func (s *Server) handleArchive() http.HandlerFunc {
	type entry struct {
		Week     string `json:"week"`
		HTML     string `json:"html"`
		Markdown string `json:"markdown"`
		JSON     string `json:"json"`
		Text     string `json:"text"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		weeks, err := s.o.Archive.Weeks()
		if err != nil {
			s.o.Logger.Error("listing the report archive", "err", err)
			problem.Write(w, r, problem.New(http.StatusInternalServerError, "the archive could not be read; the report server's log has the cause"))
			return
		}
		now := sloreport.WeekOf(s.o.Now())
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			out := struct {
				Latest  string  `json:"latest"`
				Reports []entry `json:"reports"`
			}{Latest: now.Add(-1).String(), Reports: []entry{}}
			for _, wk := range weeks {
				p := "/reports/" + wk.String()
				out.Reports = append(out.Reports, entry{Week: wk.String(), HTML: p + ".html", Markdown: p + ".md", JSON: p + ".json", Text: p + ".txt"})
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(out)
			return
		}
		var buf bytes.Buffer
		if err := archiveTemplate.Execute(&buf, map[string]any{"Weeks": weeks, "Latest": now.Add(-1), "Current": now}); err != nil {
			s.o.Logger.Error("listing the report archive", "err", err)
			problem.Write(w, r, problem.New(http.StatusInternalServerError, "the archive could not be listed"))
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
	}
}
