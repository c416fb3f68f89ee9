package sloreport

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Format is a report's format.
type Format string

// The formats.
const (
	Text     Format = "text"
	Markdown Format = "markdown"
	HTML     Format = "html"
	JSON     Format = "json"
)

// Formats lists the formats.
func Formats() []Format { return []Format{Text, Markdown, HTML, JSON} }

// ParseFormat reads a format's name. Errors: a name that is none.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("format must be text, markdown, html or json, not %q", s)
}

// ContentType is the media type of a format.
func (f Format) ContentType() string {
	switch f {
	case Markdown:
		return "text/markdown; charset=utf-8"
	case HTML:
		return "text/html; charset=utf-8"
	case JSON:
		return "application/json"
	}
	return "text/plain; charset=utf-8"
}

// Extension is a format's file name extension, without the dot.
func (f Format) Extension() string {
	switch f {
	case Markdown:
		return "md"
	case Text:
		return "txt"
	}
	return string(f)
}

// Render writes r in format f.
func (r *Report) Render(w io.Writer, f Format) error {
	switch f {
	case Text:
		return r.WriteText(w)
	case Markdown:
		return r.WriteMarkdown(w)
	case HTML:
		return r.WriteHTML(w)
	case JSON:
		return r.WriteJSON(w)
	}
	return fmt.Errorf("rendering report: unknown format %q", f)
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// WriteText writes the report as plain text for a terminal or an e-mail.
func (r *Report) WriteText(w io.Writer) error {
	v := newView(r)
	b := bufio.NewWriter(w)
	fmt.Fprintln(b, strings.ToUpper(v.Title))
	fmt.Fprintln(b, strings.Repeat("=", len(v.Title)))
	for _, m := range v.Meta {
		fmt.Fprintln(b, m)
	}
	heading := func(s string) { fmt.Fprintf(b, "\n%s\n%s\n", strings.ToUpper(s), strings.Repeat("-", len(s))) }
	heading("Executive summary")
	textTable(b, v.Summary)
	for _, s := range v.Sections {
		heading(s.Title)
		fmt.Fprintf(b, "Status: %s. %s.\n\n", statusText(s.Status), s.Reason)
		textTable(b, s.Figures)
		for _, t := range []table{s.SLOs, s.BurnDown, s.Trend, s.Daily} {
			if t.Caption != "" {
				fmt.Fprintf(b, "\n%s:\n", t.Caption)
				textTable(b, t)
			}
		}
	}
	heading("Analyses")
	textTable(b, v.Analyses)
	heading("Incidents")
	textTable(b, v.Incidents)
	heading("Chaos experiments")
	textTable(b, v.Chaos)
	heading("Definitions")
	for _, n := range v.Notes {
		fmt.Fprintln(b, "- "+n)
	}
	if err := b.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// textTable writes t with aligned columns; a link follows its text in
// angle brackets.
func textTable(w io.Writer, t table) {
	if len(t.Rows) == 0 {
		if t.Empty != "" {
			fmt.Fprintln(w, t.Empty)
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(t.Header, "\t")))
	for _, row := range t.Rows {
		parts := make([]string, len(row))
		for i, c := range row {
			parts[i] = c.Text
			if c.Link != "" && !strings.HasPrefix(c.Link, "#") {
				parts[i] += " <" + c.Link + ">"
			}
		}
		fmt.Fprintln(tw, strings.Join(parts, "\t"))
	}
	_ = tw.Flush()
}

// WriteMarkdown writes the report as GitHub-flavoured Markdown.
func (r *Report) WriteMarkdown(w io.Writer) error {
	v := newView(r)
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "# %s\n\n", mdEscape(v.Title))
	for _, m := range v.Meta {
		fmt.Fprintln(b, mdEscape(m))
	}
	fmt.Fprint(b, "\n## Executive summary\n\n")
	mdTable(b, v.Summary)
	for _, s := range v.Sections {
		fmt.Fprintf(b, "\n## %s\n\n**Status: %s.** %s.\n\n", mdEscape(s.Title), statusText(s.Status), mdEscape(s.Reason))
		mdTable(b, s.Figures)
		for _, t := range []table{s.SLOs, s.BurnDown, s.Trend, s.Daily} {
			if t.Caption != "" {
				fmt.Fprintf(b, "\n### %s\n\n", mdEscape(t.Caption))
				mdTable(b, t)
			}
		}
	}
	fmt.Fprint(b, "\n## Analyses\n\n")
	mdTable(b, v.Analyses)
	fmt.Fprint(b, "\n## Incidents\n\n")
	mdTable(b, v.Incidents)
	fmt.Fprint(b, "\n## Chaos experiments\n\n")
	mdTable(b, v.Chaos)
	fmt.Fprint(b, "\n## Definitions\n\n")
	for _, n := range v.Notes {
		fmt.Fprintln(b, "- "+mdEscape(n))
	}
	if err := b.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

func mdTable(w io.Writer, t table) {
	if len(t.Rows) == 0 {
		if t.Empty != "" {
			fmt.Fprintln(w, mdEscape(t.Empty))
		}
		return
	}
	seps := make([]string, len(t.Header))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintf(w, "| %s |\n| %s |\n", strings.Join(t.Header, " | "), strings.Join(seps, " | "))
	for _, row := range t.Rows {
		parts := make([]string, len(row))
		for i, c := range row {
			text := mdEscape(c.Text)
			if c.RAG != "" && c.RAG != NoStatus {
				text = "**" + text + "**"
			}
			if c.Link != "" {
				text = "[" + text + "](" + c.Link + ")"
			}
			if c.Anchor != "" {
				// The anchor is a slug (AnalysisID): nothing to escape.
				text = `<a id="` + c.Anchor + `"></a>` + text
			}
			parts[i] = text
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(parts, " | "))
	}
}

// mdEscaper keeps text from being read as Markdown: table pipes, emphasis,
// links and HTML.
var mdEscaper = strings.NewReplacer(`\`, `\\`, "|", `\|`, "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", "&lt;", ">", "&gt;", "`", "\\`")

func mdEscape(s string) string { return mdEscaper.Replace(s) }

// SummaryText is the executive summary as a few lines of plain text, for a
// chat message: the title, a line per service, and link when it is set.
func (r *Report) SummaryText(link string) string {
	var b strings.Builder
	b.WriteString(r.Title + "\n")
	fmt.Fprintf(&b, "%s: %s\n", statusText(r.Overall.Status), r.Overall.Reason)
	for _, l := range r.Summary {
		fmt.Fprintf(&b, "%s %s: %s\n", statusText(l.Status), ScopeName(l.Service, l.Environment), l.Reason)
	}
	if n := len(r.Incidents); n > 0 {
		fmt.Fprintf(&b, "%d %s in the period.\n", n, noun("incidents", float64(n)))
	}
	if link != "" {
		b.WriteString("Full report: " + link + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}
