package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// Options configure a [Writer].
type Options struct {
	// Store receives the records. Required.
	Store Appender
	// FlushInterval is how long a record may wait before it is appended:
	// records are appended in one transaction per interval (or sooner, when
	// MaxBatch have gathered), and Log returns before that. It is also the
	// most a crash can lose. Zero means group commit: Log returns only once
	// its record is committed, and the records of concurrent Logs are
	// appended together, in one transaction per turn of the database (up to
	// MaxBatch), so nothing Log returned for is lost in a crash.
	FlushInterval time.Duration
	// QueueSize bounds the records held in memory; when it is full, Log waits
	// for room (backpressure) instead of dropping. Zero means 10000. With
	// group commit it bounds the records waiting for the next transaction.
	QueueSize int
	// MaxBatch bounds the records of one append. Zero means 1000.
	MaxBatch int
	// SyncTimeout bounds how long a group commit retries a failing append
	// before it drops its records (logged with every field, and counted) and
	// releases their Logs.
	// Zero means 10s. Asynchronous appends are retried until Close gives up.
	SyncTimeout time.Duration
	// Sink, if not nil, gets every batch after it is appended (records with
	// Seq and Hash set), and is closed by Close.
	Sink Sink
	// OnClose, if not nil, is called by Close after the last record is
	// appended and before Sink is closed (to sign a last checkpoint of the
	// chain and stream it); not called when Close gives up.
	OnClose func(ctx context.Context)
	// Logger logs append failures and dropped records; nil means slog.Default().
	Logger *slog.Logger
	// Metrics, if not nil, counts appended, dropped and waiting records.
	Metrics *Metrics
}

// Sink receives appended records, for a copy outside the database.
type Sink interface {
	// Send takes a batch of appended records. It must not block for long
	// and must not change them.
	Send(events []*store.AuditEvent)
	// Close sends what it holds, or gives up when ctx is done.
	Close(ctx context.Context) error
}

// Writer appends audit records from the request path. It is safe for
// concurrent use.
//
// Guarantees: a record passed to Log before Close is appended when Close
// returns nil. With group commit (a zero FlushInterval), a record is
// committed when Log returns, so a crash loses none that a caller was told
// about. With a FlushInterval, the records lost in a crash are at most those
// logged in the last FlushInterval, plus those of an append in flight (the
// queue never holds more, unless the database is failing, and then Log
// waits).
type Writer struct {
	opts  Options
	log   *slog.Logger
	queue chan *store.AuditEvent // with a FlushInterval
	group chan pending           // group commit: records and who waits for them

	mu     sync.RWMutex // held for reading by Log while it sends; for writing to close queue
	closed atomic.Bool

	closeOnce sync.Once
	abortOnce sync.Once
	abort     chan struct{} // closed when Close gives up waiting
	ctx       context.Context
	cancel    context.CancelFunc // cancels appends in flight when Close gives up
	done      chan struct{}      // closed when the loop has ended
	lost      int                // records the loop could not append (read after done)
}

// New returns a Writer; it starts its appending goroutine and does no I/O.
// The caller must call Close.
func New(opts Options) (*Writer, error) {
	if opts.Store == nil {
		return nil, errors.New("audit: no store")
	}
	if opts.FlushInterval < 0 {
		return nil, fmt.Errorf("audit: negative flush interval %v", opts.FlushInterval)
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 10000
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = 10 * time.Second
	}
	w := &Writer{opts: opts, log: opts.Logger, abort: make(chan struct{}), done: make(chan struct{})}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	if opts.FlushInterval > 0 {
		w.queue = make(chan *store.AuditEvent, opts.QueueSize)
		go w.loop()
	} else {
		w.group = make(chan pending, opts.QueueSize)
		go w.groupLoop()
	}
	return w, nil
}

// Log records e. The Writer owns e from now on: the caller must not change
// it. A zero e.Time is set to now. Log returns once e is queued (or, with a
// zero FlushInterval, committed: group commit).
// It blocks while the queue is full, which only happens when the database is
// slower than the request rate: a security log must not silently lose records.
// After Close, or when Close gave up, the record is dropped and logged.
func (w *Writer) Log(e *store.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = time.Now() // when it happened, not when it is appended
	}
	if w.group != nil {
		w.logGroup(e)
		return
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed.Load() {
		w.drop(errors.New("audit writer closed"), e)
		return
	}
	select {
	case w.queue <- e:
		return
	default:
	}
	start := time.Now()
	select {
	case w.queue <- e:
		w.opts.Metrics.waited(time.Since(start))
	case <-w.abort:
		w.drop(errors.New("audit writer closing"), e)
	}
}

// pending is a record waiting for its group commit, and where its Log waits.
type pending struct {
	e    *store.AuditEvent
	done chan struct{} // closed once e is committed or dropped
}

// logGroup queues e for the next group commit and waits until it is
// committed (or dropped, after SyncTimeout of failures or when Close gives up).
func (w *Writer) logGroup(e *store.AuditEvent) {
	p := pending{e: e, done: make(chan struct{})}
	if !w.enqueue(p) {
		return
	}
	<-p.done
}

// enqueue hands p to the group commit loop, waiting for room; it reports
// false (having dropped the record) when the Writer is closed or closing.
func (w *Writer) enqueue(p pending) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed.Load() {
		w.drop(errors.New("audit writer closed"), p.e)
		return false
	}
	select {
	case w.group <- p:
		return true
	default:
	}
	start := time.Now()
	select {
	case w.group <- p:
		w.opts.Metrics.waited(time.Since(start))
		return true
	case <-w.abort:
		w.drop(errors.New("audit writer closing"), p.e)
		return false
	}
}

// groupLoop is group commit: it takes every record waiting (up to MaxBatch),
// appends them in one transaction and releases their Logs, then does it
// again with the records that arrived meanwhile. One append is in flight at
// a time, so the batch grows with the load and the database's latency, and
// a lone request waits for one transaction only.
func (w *Writer) groupLoop() {
	defer close(w.done)
	batch := make([]pending, 0, w.opts.MaxBatch)
	events := make([]*store.AuditEvent, 0, w.opts.MaxBatch)
	last := 0 // records of the previous commit
	for {
		p, ok := <-w.group
		if !ok {
			return
		}
		batch = append(batch[:0], p)
		// While the previous commit had company, yield a few times before
		// committing: the requests it released are being answered and log
		// their next records now, and joining this commit saves them one
		// each (a commit rewrites the same pages of the log's indexes
		// whatever its size). A lone request does not wait.
		yields := 0
		if last > 1 {
			yields = 3
		}
	gather:
		for len(batch) < w.opts.MaxBatch {
			select {
			case p, ok := <-w.group:
				if !ok {
					break gather // the next receive ends the loop
				}
				batch = append(batch, p)
			default:
				if yields == 0 {
					break gather
				}
				yields--
				runtime.Gosched()
			}
		}
		last = len(batch)
		events = events[:0]
		for _, p := range batch {
			events = append(events, p.e)
		}
		w.opts.Metrics.queueLength(len(w.group))
		ctx, cancel := context.WithTimeout(w.ctx, w.opts.SyncTimeout)
		err := w.appendRetry(ctx, events)
		cancel()
		if err != nil {
			w.lost += len(events)
			for _, e := range events {
				w.drop(err, e)
			}
		} else if w.opts.Sink != nil {
			w.opts.Sink.Send(slices.Clone(events))
		}
		for i := range batch {
			close(batch[i].done)
			batch[i] = pending{}
		}
	}
}

// drop logs a record that could not be appended with all its fields, so it
// survives at least in the process log, and counts it.
func (w *Writer) drop(err error, e *store.AuditEvent) {
	w.opts.Metrics.dropped(1)
	w.log.Error("audit record not written", "err", err.Error(), "time", e.Time, "type", e.Type,
		"client_token", e.ClientToken, "client_ip", e.ClientIP, "user_agent", e.UserAgent,
		"module", e.Module, "version", e.Version, "kind", e.Kind, "decision", e.Decision,
		"reasons", e.Reasons, "source", e.Source, "bytes", e.Bytes, "duration", e.Duration, "sbom", e.SBOM)
}

// loop gathers queued records into batches and appends one batch per flush
// interval, or as soon as MaxBatch have gathered.
func (w *Writer) loop() {
	defer close(w.done)
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	var batch []*store.AuditEvent
	for {
		select {
		case e, ok := <-w.queue:
			if !ok {
				w.flush(batch)
				return
			}
			batch = append(batch, e)
			if len(batch) >= w.opts.MaxBatch {
				w.flush(batch)
				batch = nil
			}
		case <-tick.C:
			if len(batch) > 0 {
				w.flush(batch)
				batch = nil
			}
		}
	}
}

// flush appends batch, retrying until it succeeds or Close gives up.
func (w *Writer) flush(batch []*store.AuditEvent) {
	if len(batch) == 0 {
		return
	}
	w.opts.Metrics.queueLength(len(w.queue))
	if err := w.appendRetry(w.ctx, batch); err != nil {
		w.lost += len(batch)
		for _, e := range batch {
			w.drop(err, e)
		}
		return
	}
	if w.opts.Sink != nil {
		w.opts.Sink.Send(batch)
	}
}

// appendRetry appends batch, retrying with backoff until it succeeds or ctx
// is done.
func (w *Writer) appendRetry(ctx context.Context, batch []*store.AuditEvent) error {
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := w.opts.Store.AppendAudit(ctx, batch)
		if err == nil {
			w.opts.Metrics.appended(len(batch), time.Since(start))
			return nil
		}
		w.opts.Metrics.appendError()
		if ctx.Err() != nil {
			return err
		}
		wait := backoff(attempt, 50*time.Millisecond, 5*time.Second)
		w.log.Error("appending audit records; retrying", "err", err.Error(), "records", len(batch),
			"attempt", attempt+1, "retry_in", wait)
		if !sleep(ctx, wait) {
			return err
		}
	}
}

// Close appends every record logged before it and stops the Writer, then
// closes the Sink. If ctx ends first, Close stops retrying, logs the records
// it could not append (each with all its fields) and returns an error
// saying how many.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		go func() {
			// Wait for Logs in progress: the loop keeps draining the
			// queue, and abort releases them if Close gives up.
			w.mu.Lock()
			w.closed.Store(true)
			if w.queue != nil {
				close(w.queue) // the loop flushes the rest and closes done
			} else {
				close(w.group) // the loop commits the rest and closes done
			}
			w.mu.Unlock()
		}()
	})
	var err error
	select {
	case <-w.done:
	case <-ctx.Done():
		w.abortOnce.Do(func() { close(w.abort); w.cancel() })
		<-w.done
		err = fmt.Errorf("audit: close: %w: %d records not appended (logged)", ctx.Err(), w.lost)
	}
	w.cancel()
	if w.opts.OnClose != nil && ctx.Err() == nil {
		w.opts.OnClose(ctx)
	}
	if w.opts.Sink != nil {
		err = errors.Join(err, w.opts.Sink.Close(ctx))
	}
	return err
}
