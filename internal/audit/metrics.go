package audit

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the audit log's Prometheus metrics. A nil *Metrics keeps none.
type Metrics struct {
	events       *prometheus.CounterVec
	appendErrors prometheus.Counter
	spoolErrors  prometheus.Counter
	appendTime   prometheus.Histogram
	queued       prometheus.Gauge
	waits        prometheus.Counter
	waitTime     prometheus.Counter
	stream       *prometheus.CounterVec
}

// NewMetrics creates the audit metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modgate_audit_events_total",
			Help: "Audit records by outcome: spooled (written to the spool, acknowledged before they are appended), appended to the database, or dropped (never silently: each is logged).",
		}, []string{"result"}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "modgate_audit_append_errors_total", Help: "Failed audit appends (each is retried).",
		}),
		spoolErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "modgate_audit_spool_errors_total",
			Help: "Batches of audit records the spool could not take (each appended directly, its requests waiting for the commit).",
		}),
		appendTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "modgate_audit_append_duration_seconds", Help: "Time of one batched audit append.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "modgate_audit_queue_length", Help: "Audit records waiting to be appended.",
		}),
		waits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "modgate_audit_backpressure_total", Help: "Requests that waited because the audit queue was full.",
		}),
		waitTime: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "modgate_audit_backpressure_seconds_total", Help: "Time requests waited because the audit queue was full.",
		}),
		stream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modgate_audit_stream_events_total",
			Help: "Audit records copied to the SIEM stream, by result: sent, or dropped (queue full or retries exhausted).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.events, m.appendErrors, m.spoolErrors, m.appendTime, m.queued, m.waits, m.waitTime, m.stream)
	return m
}

func (m *Metrics) appended(n int, d time.Duration) {
	if m != nil {
		m.events.WithLabelValues("appended").Add(float64(n))
		m.appendTime.Observe(d.Seconds())
	}
}

func (m *Metrics) spooledRecords(n int) {
	if m != nil {
		m.events.WithLabelValues("spooled").Add(float64(n))
	}
}

func (m *Metrics) spoolError() {
	if m != nil {
		m.spoolErrors.Inc()
	}
}

func (m *Metrics) dropped(n int) {
	if m != nil {
		m.events.WithLabelValues("dropped").Add(float64(n))
	}
}

func (m *Metrics) appendError() {
	if m != nil {
		m.appendErrors.Inc()
	}
}

func (m *Metrics) queueLength(n int) {
	if m != nil {
		m.queued.Set(float64(n))
	}
}

func (m *Metrics) waited(d time.Duration) {
	if m != nil {
		m.waits.Inc()
		m.waitTime.Add(d.Seconds())
	}
}

func (m *Metrics) streamed(result string, n int) {
	if m != nil {
		m.stream.WithLabelValues(result).Add(float64(n))
	}
}
