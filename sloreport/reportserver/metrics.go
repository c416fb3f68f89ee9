package reportserver

import "github.com/prometheus/client_golang/prometheus"

// What started a report's generation.
const (
	triggerSchedule = "schedule"
	triggerRequest  = "request"
	triggerPublish  = "publish"
)

type serverMetrics struct {
	generations *prometheus.CounterVec
	posts       *prometheus.CounterVec
	archived    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*serverMetrics, error) {
	m := &serverMetrics{
		generations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_report_generations_total",
			Help: "Reports generated, by trigger (schedule: archived on the server's schedule; publish: archived when asked, POST /reports/WEEK/publish; request: a week not archived, on demand) and result.",
		}, []string{"trigger", "result"}),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_report_webhook_posts_total",
			Help: "Summaries posted to the webhook, by result, retries included in one post.",
		}, []string{"result"}),
		archived: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "estate_report_last_archived_timestamp_seconds",
			Help: "When a weekly report was last archived, in seconds since the epoch.",
		}),
	}
	for _, c := range []prometheus.Collector{m.generations, m.posts, m.archived} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, t := range []string{triggerSchedule, triggerPublish, triggerRequest} {
		for _, r := range []string{"ok", "error"} {
			m.generations.WithLabelValues(t, r)
		}
	}
	m.posts.WithLabelValues("ok")
	m.posts.WithLabelValues("error")
	return m, nil
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func (m *serverMetrics) generated(trigger string, err error) {
	m.generations.WithLabelValues(trigger, result(err)).Inc()
}

func (m *serverMetrics) posted(err error) { m.posts.WithLabelValues(result(err)).Inc() }
