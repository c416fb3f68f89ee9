package analytics_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/analytics"
)

// column is one column as the files have it, or as a document says.
type column struct{ name, typ, nullable string }

// fileColumns reads a table's columns off the schema its files are
// written with: "optional int64 succeeded_at (TIMESTAMP(...))".
func fileColumns(t *testing.T, row any) []column {
	t.Helper()
	re := regexp.MustCompile(`^\s*(required|optional) (\w+) (\w+)(?: \((.*)\))?;$`)
	var out []column
	for line := range strings.SplitSeq(parquet.SchemaOf(row).String(), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		typ := map[string]string{
			"binary STRING": "STRING", "int64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)": "TIMESTAMP(MICROS, UTC)",
			"double ": "DOUBLE", "int32 INT(32,true)": "INT32", "boolean ": "BOOLEAN",
		}[m[2]+" "+m[4]]
		require.NotEmpty(t, typ, "a type docs/analytics.md does not name: %s", line)
		out = append(out, column{m[3], typ, map[string]string{"required": "no", "optional": "yes"}[m[1]]})
	}
	return out
}

// docColumns reads the table of columns under "### TABLE" in the document:
// "| `a`, `b` | STRING | no | ... |".
func docColumns(t *testing.T, doc, table string) []column {
	t.Helper()
	i := strings.Index(doc, "\n### "+table+"\n")
	require.GreaterOrEqual(t, i, 0, "docs/analytics.md has no section ### %s", table)
	section := doc[i+1:]
	if j := strings.Index(section[4:], "\n#"); j >= 0 {
		section = section[:j+4]
	}
	re := regexp.MustCompile("^\\| (`[^|]+) \\| ([A-Z0-9(), ]+) \\| (yes|no) \\|")
	var out []column
	for line := range strings.SplitSeq(section, "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for name := range strings.SplitSeq(m[1], ",") {
			out = append(out, column{strings.Trim(strings.TrimSpace(name), "`"), m[2], m[3]})
		}
	}
	return out
}

// ddlColumns reads the columns of CREATE EXTERNAL TABLE estate.TABLE, as
// the document's Athena types, mapped to the document's Parquet types.
func ddlColumns(t *testing.T, doc, table string) []column {
	t.Helper()
	re := regexp.MustCompile(`(?s)CREATE EXTERNAL TABLE estate\.` + table + ` \((.*?)\)\nPARTITIONED BY \(dt string\)\nSTORED AS PARQUET\nLOCATION 's3://BUCKET/estate/` + table + `/';`)
	m := re.FindStringSubmatch(doc)
	require.NotNil(t, m, "docs/analytics.md has no CREATE EXTERNAL TABLE estate.%s partitioned by dt over s3://BUCKET/estate/%s/", table, table)
	var out []column
	for def := range strings.SplitSeq(m[1], ",") {
		f := strings.Fields(def)
		require.Len(t, f, 2, def)
		typ := map[string]string{"string": "STRING", "timestamp": "TIMESTAMP(MICROS, UTC)", "double": "DOUBLE", "int": "INT32", "boolean": "BOOLEAN"}[f[1]]
		require.NotEmpty(t, typ, "an Athena type the files do not have: %s", def)
		out = append(out, column{strings.Trim(f[0], "`"), typ, ""})
	}
	return out
}

// TestDocsDescribeTheFiles: docs/analytics.md's table of columns of each
// table, and its CREATE EXTERNAL TABLE, name every column of the files
// with its type and nullability, and no other.
func TestDocsDescribeTheFiles(t *testing.T) {
	b, err := os.ReadFile("../docs/analytics.md")
	require.NoError(t, err)
	doc := string(b)
	rows := map[string]any{
		analytics.TableEvents: new(analytics.EventRow), analytics.TableDeployments: new(analytics.DeploymentRow),
		analytics.TableIncidents: new(analytics.IncidentRow), analytics.TableChaosRuns: new(analytics.ChaosRunRow),
		analytics.TableWeekly: new(analytics.WeeklyRow), analytics.TableRED: new(analytics.REDRow), analytics.TableSLO: new(analytics.SLORow),
	}
	require.Len(t, rows, len(analytics.Tables()))
	byName := func(a, b column) int { return strings.Compare(a.name, b.name) }
	for _, table := range analytics.Tables() {
		t.Run(table, func(t *testing.T) {
			files := fileColumns(t, rows[table])
			slices.SortFunc(files, byName)
			documented := docColumns(t, doc, table)
			slices.SortFunc(documented, byName)
			require.Equal(t, files, documented)

			ddl := ddlColumns(t, doc, table)
			slices.SortFunc(ddl, byName)
			for i := range files {
				files[i].nullable = ""
			}
			require.Equal(t, files, ddl, "the DDL's columns")
			require.Contains(t, doc, "MSCK REPAIR TABLE estate."+table+";")
		})
	}
}
