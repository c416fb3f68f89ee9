package esdouble_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/collector/elasticsearch/esdouble"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, opts esdouble.Options) (*esdouble.Server, *elasticsearch.Client) {
	t.Helper()
	srv, err := esdouble.Start(opts)
	require.NoError(t, err)
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = srv.Close()
	})
	client, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{srv.URL()}, Transport: tr})
	require.NoError(t, err)
	return srv, client
}

type bulkResponse struct {
	Errors bool                        `json:"errors"`
	Items  []map[string]bulkItemResult `json:"items"`
}

type bulkItemResult struct {
	Index  string `json:"_index"`
	Status int    `json:"status"`
	Error  struct {
		Type string `json:"type"`
	} `json:"error"`
}

func bulk(t *testing.T, client *elasticsearch.Client, body string) bulkResponse {
	t.Helper()
	res, err := client.Bulk(strings.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var br bulkResponse
	require.NoError(t, json.NewDecoder(res.Body).Decode(&br))
	return br
}

func statuses(br bulkResponse) []int {
	var out []int
	for _, it := range br.Items {
		for _, r := range it {
			out = append(out, r.Status)
		}
	}
	return out
}

func TestBulkCreateConflictAndFaults(t *testing.T) {
	srv, client := start(t, esdouble.Options{})
	br := bulk(t, client, `{"create":{"_index":"logs","_id":"a"}}
{"message":"one"}
{"create":{"_index":"logs","_id":"b"}}
{"message":"two"}
`)
	require.False(t, br.Errors)
	require.Equal(t, []int{201, 201}, statuses(br))

	srv.SetPlan(esdouble.Chain(
		esdouble.RejectIDs(func(id string) bool { return id == "d" }),
		esdouble.FailNext(1, 429),
	))
	br = bulk(t, client, `{"create":{"_index":"logs","_id":"a"}}
{"message":"one again"}
{"create":{"_index":"logs","_id":"c"}}
{"message":"three"}
{"create":{"_index":"logs","_id":"d"}}
{"message":"four"}
{"create":{"_index":"logs","_id":"e"}}
{"message":"five"}
`)
	require.True(t, br.Errors)
	// a: the plan's 429 comes first (faults before conflicts, as a rejected
	// request never reaches the shard); c created; d refused; e created.
	require.Equal(t, []int{429, 201, 400, 201}, statuses(br))
	require.Equal(t, "es_rejected_execution_exception", br.Items[0]["create"].Error.Type)
	require.Equal(t, "mapper_parsing_exception", br.Items[2]["create"].Error.Type)

	br = bulk(t, client, `{"create":{"_index":"logs","_id":"a"}}
{"message":"one again"}
`)
	require.Equal(t, []int{409}, statuses(br))
	require.Equal(t, "version_conflict_engine_exception", br.Items[0]["create"].Error.Type)
	require.Len(t, srv.Docs("logs"), 4)

	res, err := client.Count(client.Count.WithIndex("logs"))
	require.NoError(t, err)
	var count struct{ Count int }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&count))
	_ = res.Body.Close()
	require.Equal(t, 4, count.Count)

	res, err = client.Search(client.Search.WithIndex("logs"), client.Search.WithBody(strings.NewReader(`{"query":{"ids":{"values":["c","zz"]}}}`)))
	require.NoError(t, err)
	var sr struct {
		Hits struct {
			Hits []struct {
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&sr))
	_ = res.Body.Close()
	require.Len(t, sr.Hits.Hits, 1)
	require.Equal(t, "c", sr.Hits.Hits[0].ID)
	require.JSONEq(t, `{"message":"three"}`, string(sr.Hits.Hits[0].Source))
}

func TestDataStreams(t *testing.T) {
	srv, client := start(t, esdouble.Options{})
	res, err := client.Indices.ExistsIndexTemplate("t")
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode)

	res, err = client.Indices.PutIndexTemplate("t", strings.NewReader(`{"index_patterns":["logs-*-*"],"data_stream":{},"priority":200}`))
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	br := bulk(t, client, `{"index":{"_index":"logs-a-b","_id":"1"}}
{"@timestamp":"2026-11-26T00:00:00Z"}
{"create":{"_index":"logs-a-b","_id":"2"}}
{"message":"no timestamp"}
{"create":{"_index":"logs-a-b","_id":"3"}}
{"@timestamp":"2026-11-26T00:00:00Z"}
`)
	require.Equal(t, []int{400, 400, 201}, statuses(br))
	require.True(t, srv.IsDataStream("logs-a-b"))
	require.True(t, strings.HasPrefix(br.Items[2]["create"].Index, ".ds-logs-a-b-"))

	res, err = client.Indices.GetDataStream(client.Indices.GetDataStream.WithName("logs-a-b"))
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	require.Contains(t, string(b), `"name":"logs-a-b"`)
}

func TestFlavors(t *testing.T) {
	tests := []struct {
		flavor      esdouble.Flavor
		wantProduct string
		wantCompat  int
		wantDistrib string
	}{
		{esdouble.Elasticsearch8, "Elasticsearch", http.StatusOK, ""},
		{esdouble.Elasticsearch710, "", http.StatusNotAcceptable, ""},
		{esdouble.OpenSearch2, "", http.StatusNotAcceptable, "opensearch"},
	}
	for _, tc := range tests {
		t.Run(tc.flavor.String(), func(t *testing.T) {
			srv, err := esdouble.Start(esdouble.Options{Flavor: tc.flavor})
			require.NoError(t, err)
			defer srv.Close()
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr}

			res, err := hc.Get(srv.URL() + "/")
			require.NoError(t, err)
			var info struct {
				Version struct{ Number, Distribution string }
			}
			require.NoError(t, json.NewDecoder(res.Body).Decode(&info))
			_ = res.Body.Close()
			require.Equal(t, tc.wantProduct, res.Header.Get("X-Elastic-Product"))
			require.Equal(t, tc.wantDistrib, info.Version.Distribution)

			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL()+"/", nil)
			req.Header.Set("Accept", "application/vnd.elasticsearch+json; compatible-with=8")
			res, err = hc.Do(req)
			require.NoError(t, err)
			_ = res.Body.Close()
			require.Equal(t, tc.wantCompat, res.StatusCode)
		})
	}
}

func TestDownAndUp(t *testing.T) {
	srv, client := start(t, esdouble.Options{})
	require.NoError(t, srv.SetDown(true))
	_, err := client.Info()
	require.Error(t, err)
	require.NoError(t, srv.SetDown(false))
	res, err := client.Info()
	require.NoError(t, err)
	_ = res.Body.Close()

	srv.SetRequestStatus(http.StatusTooManyRequests)
	res, err = client.Bulk(strings.NewReader("{\"create\":{\"_index\":\"x\",\"_id\":\"1\"}}\n{}\n"))
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	require.Empty(t, cmp.Diff([]string(nil), srv.Indices()))
}
