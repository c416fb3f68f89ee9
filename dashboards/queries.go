package dashboards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/estatehq/estate/internal/promquery"
)

// Kind is where an expression is used.
type Kind string

// The kinds of expressions.
const (
	KindPanel      Kind = "panel"
	KindVariable   Kind = "variable"
	KindAnnotation Kind = "annotation"
	KindRecord     Kind = "record"
	KindAlert      Kind = "alert"
)

// Expression is one PromQL expression of the generated files.
type Expression struct {
	// File is the generated file and Where the place in it, such as
	// `panel 3 "Request rate" query A`.
	File, Where string
	Kind        Kind
	// Expr is as written: in a dashboard, with its variables.
	Expr string
	// Instant is true of a panel query asked at one time, false of one
	// asked over the time range.
	Instant bool
	// vars are the variables of its dashboard.
	vars []variable
	// label is the label whose values a variable's selector lists.
	label string
}

func (e Expression) String() string { return e.File + ": " + e.Where }

// variable is a dashboard variable, as far as queries use it.
type variable struct {
	Name string
	Type string
	// Selector and Label are those of a query variable's
	// label_values(selector, label).
	Selector, Label string
	// Values are a custom variable's, or a text box's default.
	Values []string
	// All is set when the variable can be All: it then stands for
	// AllValue.
	All      bool
	AllValue string
}

// The values Grafana gives its built-in variables, as the checks
// substitute them: a rate interval of a 15 s scrape, an interval and the
// range of a short dashboard.
var builtins = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__range":         "1h",
}

// Expressions lists every PromQL expression of the generated dashboards
// (panel queries, query variables' selectors, annotations) and rules
// files, in order, and fails naming each that does not parse with its
// variables substituted (Substitute) as Verify would.
func Expressions(files Files) ([]Expression, error) {
	var out []Expression
	var errs []error
	for _, path := range files.Paths() {
		var exprs []Expression
		var err error
		switch {
		case strings.HasSuffix(path, ".rules.yaml") && !strings.Contains(path, "/tests/"):
			exprs, err = ruleExpressions(path, files[path])
		case strings.HasSuffix(path, ".json"):
			exprs, err = dashboardExpressions(path, files[path])
		default:
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range exprs {
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(Substitute(e.Expr, placeholders(e.vars))); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q does not parse: %w", e, e.Expr, err))
			}
		}
		out = append(out, exprs...)
	}
	return out, errors.Join(errs...)
}

// placeholders are values of a dashboard's variables that any of them
// may take: All for those that can be, else the first value known.
func placeholders(vars []variable) map[string]string {
	vals := map[string]string{}
	for _, v := range vars {
		switch {
		case v.All:
			vals[v.Name] = v.AllValue
		case len(v.Values) > 0:
			vals[v.Name] = v.Values[0]
		default:
			vals[v.Name] = "x"
		}
	}
	return vals
}

func ruleExpressions(path string, b []byte) ([]Expression, error) {
	groups, errs := rulefmt.Parse(b, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", path, errors.Join(errs...))
	}
	var out []Expression
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			e := Expression{File: path, Kind: KindRecord, Expr: r.Expr, Instant: true}
			if r.Alert != "" {
				e.Kind = KindAlert
				e.Where = fmt.Sprintf("group %s alert %s %v", g.Name, r.Alert, labelSet(r.Labels))
			} else {
				e.Where = fmt.Sprintf("group %s record %s %v", g.Name, r.Record, labelSet(r.Labels))
			}
			out = append(out, e)
		}
	}
	return out, nil
}

func labelSet(m map[string]string) model.LabelSet {
	ls := model.LabelSet{}
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

// The parts of a dashboard's JSON that hold queries.
type (
	dashboardJSON struct {
		Panels     []panelJSON `json:"panels"`
		Templating struct {
			List []variableJSON `json:"list"`
		} `json:"templating"`
		Annotations struct {
			List []struct {
				Name string `json:"name"`
				Expr string `json:"expr"`
			} `json:"list"`
		} `json:"annotations"`
	}
	panelJSON struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			RefID   string `json:"refId"`
			Expr    string `json:"expr"`
			Instant bool   `json:"instant"`
		} `json:"targets"`
		Panels []panelJSON `json:"panels"`
	}
	variableJSON struct {
		Type       string          `json:"type"`
		Name       string          `json:"name"`
		Query      json.RawMessage `json:"query"`
		IncludeAll bool            `json:"includeAll"`
		AllValue   string          `json:"allValue"`
	}
)

// labelValuesRE reads Grafana's label_values(selector, label).
var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

func dashboardExpressions(path string, b []byte) ([]Expression, error) {
	var d dashboardJSON
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var vars []variable
	var out []Expression
	for _, v := range d.Templating.List {
		var q string
		_ = json.Unmarshal(v.Query, &q) // a query that is not a string is none of ours
		vr := variable{Name: v.Name, Type: v.Type, All: v.IncludeAll, AllValue: v.AllValue}
		switch v.Type {
		case "query":
			m := labelValuesRE.FindStringSubmatch(q)
			if m == nil {
				return nil, fmt.Errorf("%s: variable %s: %q is not label_values(selector, label)", path, v.Name, q)
			}
			vr.Selector, vr.Label = m[1], m[2]
			out = append(out, Expression{File: path, Where: "variable " + v.Name, Kind: KindVariable, Expr: vr.Selector, Instant: true, label: vr.Label})
		case "custom":
			vr.Values = strings.Split(q, ",")
		case "textbox":
			vr.Values = []string{q}
		}
		vars = append(vars, vr)
	}
	var walk func([]panelJSON)
	walk = func(ps []panelJSON) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, Expression{File: path, Where: fmt.Sprintf("panel %d %q query %s", p.ID, p.Title, t.RefID), Kind: KindPanel, Expr: t.Expr, Instant: t.Instant})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out = append(out, Expression{File: path, Where: "annotation " + a.Name, Kind: KindAnnotation, Expr: a.Expr})
		}
	}
	for i := range out {
		out[i].vars = vars
	}
	return out, nil
}

// variableRE finds $name, ${name} and ${name:format} in a query.
var variableRE = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)`)

// Substitute replaces the variables of expr with values, and Grafana's
// built-in intervals ($__rate_interval, $__interval, $__range) with
// concrete windows; a variable of neither stays, so that the expression
// does not parse.
func Substitute(expr string, values map[string]string) string {
	return variableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRE.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if v, ok := values[name]; ok {
			return v
		}
		if v, ok := builtins[name]; ok {
			return v
		}
		return m
	})
}

// verifyRange is the time range over which a panel's range query must
// have data: the last minutes of a dashboard.
const verifyRange = 5 * time.Minute

// Problem is an expression of Verify that returned no data, or whose
// question failed.
type Problem struct {
	Expression Expression
	Err        error
}

func (p Problem) Error() string { return p.Expression.String() + ": " + p.Err.Error() }

// Verify asks q every expression as Grafana and Prometheus would at at,
// and returns a problem for each that returns no data: a panel or
// annotation query, or a recording rule, with nothing to show; a
// variable whose series have no values of its label; an alert's value
// (its expression without the comparisons that filter it) or one of its
// selectors with no series. A dashboard's variables take All, or the
// first of their values, after their own queries are asked.
func Verify(ctx context.Context, q promquery.Querier, exprs []Expression, at time.Time) []Problem {
	var problems []Problem
	resolved := map[string]map[string]string{} // by file
	for _, e := range exprs {
		values, ok := resolved[e.File]
		if !ok {
			values = resolve(ctx, q, e.vars, at)
			resolved[e.File] = values
		}
		if err := verify(ctx, q, e, Substitute(e.Expr, values), at); err != nil {
			problems = append(problems, Problem{Expression: e, Err: err})
		}
	}
	return problems
}

// verify asks the questions of one expression, expr once substituted.
func verify(ctx context.Context, q promquery.Querier, e Expression, expr string, at time.Time) error {
	if e.Kind == KindVariable {
		if vals, err := valuesOf(ctx, q, expr, e.label, at); err != nil || len(vals) == 0 {
			return errors.Join(err, fmt.Errorf("no series of %s has a %s label", expr, e.label))
		}
		return nil
	}
	asks := []string{expr}
	if e.Kind == KindAlert {
		var err error
		if asks, err = alertParts(expr); err != nil {
			return err
		}
	}
	var errs []error
	for _, ask := range asks {
		n, err := samples(ctx, q, ask, e.Instant, at)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", ask, err))
		case n == 0:
			errs = append(errs, fmt.Errorf("%s returns no data", ask))
		}
	}
	return errors.Join(errs...)
}

// resolve gives each variable of a dashboard its value for the checks, in
// order (a variable's query may use those before it): All, or the first
// of its values. A variable with no value is left out, so that the
// queries that use it return no data.
func resolve(ctx context.Context, q promquery.Querier, vars []variable, at time.Time) map[string]string {
	values := map[string]string{}
	for _, v := range vars {
		switch {
		case v.Type == "query":
			found, _ := valuesOf(ctx, q, Substitute(v.Selector, values), v.Label, at)
			switch {
			case len(found) > 0 && v.All:
				values[v.Name] = v.AllValue
			case len(found) > 0:
				values[v.Name] = found[0]
			}
		case len(v.Values) > 0:
			values[v.Name] = v.Values[0]
		}
	}
	return values
}

// valuesOf are the values of label on the series selector selects at
// at, sorted, as Grafana's label_values lists them.
func valuesOf(ctx context.Context, q promquery.Querier, selector, label string, at time.Time) ([]string, error) {
	val, err := q.Query(ctx, selector, at)
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	if vec, ok := val.(model.Vector); ok {
		for _, s := range vec {
			if l, ok := s.Metric[model.LabelName(label)]; ok {
				found[string(l)] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(found)), nil
}

// alertParts are the questions of an alert's expression: its value (what
// its comparisons with a number, and the conditions joined with and or
// unless, filter), unless that is absent(), and each of its selectors
// alone.
func alertParts(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	value := e
	for {
		value = unparen(value)
		b, ok := value.(*parser.BinaryExpr)
		if !ok {
			break
		}
		_, literal := unparen(b.RHS).(*parser.NumberLiteral)
		if b.Op == parser.LAND || b.Op == parser.LUNLESS || (b.Op.IsComparisonOperator() && !b.ReturnBool && literal) {
			value = b.LHS
			continue
		}
		break
	}
	var asks []string
	// absent() has a value only while its series are missing: its
	// selectors say what it reads.
	if call, ok := value.(*parser.Call); !ok || (call.Func.Name != "absent" && call.Func.Name != "absent_over_time") {
		asks = append(asks, value.String())
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			asks = append(asks, (&parser.VectorSelector{Name: vs.Name, LabelMatchers: vs.LabelMatchers}).String())
		}
		return nil
	})
	return asks, nil
}

// samples counts the samples expr returns: at at when instant, else over
// the verifyRange before it, as a panel shows it.
func samples(ctx context.Context, q promquery.Querier, expr string, instant bool, at time.Time) (int, error) {
	if !instant {
		m, err := q.QueryRange(ctx, expr, promquery.Range{Start: at.Add(-verifyRange), End: at, Step: 15 * time.Second})
		n := 0
		for _, s := range m {
			n += len(s.Values) + len(s.Histograms)
		}
		return n, err
	}
	v, err := q.Query(ctx, expr, at)
	if err != nil {
		return 0, err
	}
	switch v := v.(type) {
	case model.Vector:
		return len(v), nil
	case model.Matrix:
		return len(v), nil
	case *model.Scalar, *model.String:
		return 1, nil
	}
	return 0, nil
}

// unparen is e without the parentheses around it.
func unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}
