package proxy

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the proxy's Prometheus metrics. A nil *Metrics keeps none.
type Metrics struct {
	requests     *prometheus.CounterVec
	servedBytes  *prometheus.CounterVec
	cacheResults *prometheus.CounterVec
	stales       *prometheus.CounterVec
	upstreamTime *prometheus.HistogramVec
	upBytes      *prometheus.CounterVec
	integrityBad *prometheus.CounterVec
	noSpace      prometheus.Counter
	// blobStoreErrs: see blobStoreError.
	blobStoreErrs *prometheus.CounterVec
	// readAheads: see readAhead.
	readAheads *prometheus.CounterVec
	// children remembers the counters of label values seen (a label
	// look-up hashes the values on every request).
	children sync.Map // childKey -> prometheus.Counter
}

// childKey names one counter of a vector: the vector (by its field's
// address) and its label values.
type childKey struct {
	vec  *prometheus.CounterVec
	a, b string
	code int
}

// counter returns vec's counter for the label values (a, b) or (a, code).
func (m *Metrics) counter(vec *prometheus.CounterVec, a, b string, code int) prometheus.Counter {
	k := childKey{vec, a, b, code}
	if c, ok := m.children.Load(k); ok {
		return c.(prometheus.Counter)
	}
	var c prometheus.Counter
	switch {
	case code != 0:
		c = vec.WithLabelValues(a, strconv.Itoa(code))
	case b != "":
		c = vec.WithLabelValues(a, b)
	default:
		c = vec.WithLabelValues(a)
	}
	m.children.Store(k, c)
	return c
}

// NewMetrics creates the proxy's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modgate_requests_total", Help: "Protocol requests answered, by kind and HTTP status.",
		}, []string{"kind", "code"}),
		servedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modgate_served_bytes_total", Help: "Response body bytes sent to clients, by kind.",
		}, []string{"kind"}),
		cacheResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modgate_cache_requests_total", Help: "Cache look-ups by kind and result (hit or miss).",
		}, []string{"kind", "result"}),
		stales: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modgate_stale_served_total", Help: "Stale list/latest answers served because upstream failed.",
		}, []string{"kind"}),
		upstreamTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "modgate_upstream_request_duration_seconds", Help: "Upstream fetch latency, by kind and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}, []string{"kind", "outcome"}),
		upBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modgate_upstream_bytes_total", Help: "Bytes fetched from upstreams, by kind.",
		}, []string{"kind"}),
		integrityBad: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "modgate_integrity_failures_total",
			Help: "Stored artifacts that failed their integrity check on read (changed, truncated or replaced behind modgate's back) and were quarantined, by kind.",
		}, []string{"kind"}),
		noSpace: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "modgate_storage_full_errors_total",
			Help: "Artifacts that could not be stored because the disk (blob store or database) was full.",
		}),
	}
	m.blobStoreErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "modgate_blob_store_errors_total",
		Help: "Requests answered 503 because the blob store (such as an S3 bucket) could not be reached or refused, by operation.",
	}, []string{"op"})
	m.readAheads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "modgate_read_ahead_total",
		Help: "Artifacts fetched ahead of the client (--read-ahead), by kind and result: fetched, failed, or used (a client was then served it).",
	}, []string{"kind", "result"})
	reg.MustRegister(m.requests, m.servedBytes, m.cacheResults, m.stales, m.upstreamTime, m.upBytes, m.integrityBad, m.noSpace, m.blobStoreErrs, m.readAheads)
	return m
}

func (m *Metrics) request(kind string, code int, n int64) {
	if m == nil {
		return
	}
	m.counter(m.requests, kind, "", code).Inc()
	if n > 0 {
		m.counter(m.servedBytes, kind, "", 0).Add(float64(n))
	}
}

func (m *Metrics) cache(kind string, hit bool) {
	if m == nil {
		return
	}
	result := "miss"
	if hit {
		result = "hit"
	}
	m.counter(m.cacheResults, kind, result, 0).Inc()
}

func (m *Metrics) stale(kind string) {
	if m != nil {
		m.stales.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) upstream(kind string, start time.Time, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.upstreamTime.WithLabelValues(kind, outcome).Observe(time.Since(start).Seconds())
}

func (m *Metrics) upstreamBytes(kind string, n int64) {
	if m != nil {
		m.upBytes.WithLabelValues(kind).Add(float64(n))
	}
}

func (m *Metrics) integrity(kind string) {
	if m != nil {
		m.integrityBad.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) blobStoreError(op string) {
	if m != nil {
		m.blobStoreErrs.WithLabelValues(op).Inc()
	}
}

func (m *Metrics) storageFull() {
	if m != nil {
		m.noSpace.Inc()
	}
}

// readAhead counts a read-ahead of kind that ended with result (fetched,
// failed) or was served to a client (used).
func (m *Metrics) readAhead(kind, result string) {
	if m != nil {
		m.counter(m.readAheads, kind, result, 0).Inc()
	}
}
