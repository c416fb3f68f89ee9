package sloreport

import (
	"bufio"
	"embed"
	"fmt"
	"html/template"
	"io"
)

//go:embed templates/report.html.tmpl
var templates embed.FS

var reportTemplate = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"statusText": statusText,
	// The charts' SVG is written by render, from escaped text only.
	"svg": func(s string) template.HTML { return template.HTML(s) }, //nolint:gosec // built by render, every text in it escaped
}).ParseFS(templates, "templates/report.html.tmpl"))

// htmlView is the view with the charts of each section.
type htmlView struct {
	view
	HTMLSections []htmlSection
}

type htmlSection struct {
	section
	BurnDownCharts []chart
	TrendCharts    []chart
	DailyChart     *chart
}

// WriteHTML writes the report as one self-contained HTML page: inline
// style sheet, inline SVG charts, nothing fetched from anywhere. It reads
// on a laptop's screen and prints on A4.
func (r *Report) WriteHTML(w io.Writer) error {
	v := htmlView{view: newView(r)}
	for _, s := range v.Sections {
		hs := htmlSection{section: s}
		for i, o := range s.Scope.SLOs {
			c, err := burnDownChart(fmt.Sprintf("%s-burn-%d", s.ID, i), o, r.From, r.To)
			if err != nil {
				return fmt.Errorf("writing report: %w", err)
			}
			hs.BurnDownCharts = append(hs.BurnDownCharts, c)
		}
		if s.ID == "overall" {
			for _, t := range []struct {
				key, title string
				pick       func(TrendPoint) Measure
			}{
				{"mttr", "MTTR mean", func(p TrendPoint) Measure { return p.MTTRMean }},
				{"mtbf", "MTBF", func(p TrendPoint) Measure { return p.MTBF }},
				{"rollback", "Rollback rate", func(p TrendPoint) Measure { return p.RollbackRate }},
			} {
				c, err := trendChart(s.ID+"-trend-"+t.key, t.title, s.Scope.Trend, t.pick)
				if err != nil {
					return fmt.Errorf("writing report: %w", err)
				}
				hs.TrendCharts = append(hs.TrendCharts, c)
			}
			c, err := dailyChart(s.ID+"-daily", s.Scope.Daily)
			if err != nil {
				return fmt.Errorf("writing report: %w", err)
			}
			hs.DailyChart = &c
		}
		v.HTMLSections = append(v.HTMLSections, hs)
	}
	b := bufio.NewWriter(w)
	if err := reportTemplate.Execute(b, v); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if err := b.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}
