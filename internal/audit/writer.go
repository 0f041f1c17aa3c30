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
	// Spool, if not nil, is the write-ahead file of group commit (it needs a
	// zero FlushInterval): each batch of records is written to the spool
	// with one write, their Logs return, and the records are appended to the
	// database in bulk behind them. A crash of the process loses none of
	// them (see [Spool]); a batch the spool cannot take is appended directly,
	// its Logs waiting for the commit as without a spool. Close closes it.
	Spool *Spool
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

	// With a Spool: the group loop hands batches to the bulk loop, which
	// appends them in order.
	bulk     *bulkQueue
	kick     chan struct{} // asks the bulk loop to append what it holds now
	left     int           // records left in the spool when Close gave up (read after done)
	spooled  atomic.Int64  // number of the last record written to the spool
	progress sync.Mutex    // guards appended and moved
	appended int64         // number of the last spooled record appended
	moved    chan struct{} // closed (and replaced) when appended moves
}

// bulkItem is a batch for the bulk loop: spooled records up to through, or
// (through 0) records the spool could not take, whose Logs wait on wait.
type bulkItem struct {
	events  []*store.AuditEvent
	through int64
	wait    chan struct{}
}

// bulkQueue holds the batches between the group loop and the bulk loop, at
// most limit records (a batch larger than that alone).
type bulkQueue struct {
	mu      sync.Mutex
	cond    sync.Cond
	items   []bulkItem
	records int
	limit   int
	closed  bool
}

func newBulkQueue(limit int) *bulkQueue {
	q := &bulkQueue{limit: limit}
	q.cond.L = &q.mu
	return q
}

// push queues item, waiting while the queue is full; it reports whether it
// had to wait.
func (q *bulkQueue) push(item bulkItem) (waited bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.records > 0 && q.records+len(item.events) > q.limit {
		waited = true
		q.cond.Wait()
	}
	q.items = append(q.items, item)
	q.records += len(item.events)
	q.cond.Broadcast()
	return waited
}

func (q *bulkQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// pop waits for batches and takes, in order, as many as hold at most max
// records (at least one), stopping before a batch that was not spooled
// unless it is the first: that one is taken alone. It returns nil once the
// queue is closed and empty.
func (q *bulkQueue) pop(max int) []bulkItem { return q.take(max, true) }

// more is pop without waiting, and only of spooled batches: what joins the
// batches pop returned.
func (q *bulkQueue) more(max int) []bulkItem { return q.take(max, false) }

func (q *bulkQueue) take(max int, first bool) []bulkItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	for first && len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.items) == 0 {
		return nil
	}
	n, records := 0, 0
	for n < len(q.items) {
		it := q.items[n]
		if (n > 0 || !first) && (it.wait != nil || records+len(it.events) > max) {
			break
		}
		n++
		records += len(it.events)
		if it.wait != nil {
			break
		}
	}
	out := slices.Clone(q.items[:n])
	clear(q.items[:n])
	q.items = q.items[n:]
	q.records -= records
	q.cond.Broadcast()
	return out
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
	if opts.Spool != nil && opts.FlushInterval > 0 {
		return nil, errors.New("audit: a spool needs group commit (a zero flush interval)")
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
		if opts.Spool != nil {
			w.bulk = newBulkQueue(opts.QueueSize)
			w.kick = make(chan struct{}, 1)
			w.moved = make(chan struct{})
			w.appended = opts.Spool.last
			w.spooled.Store(opts.Spool.last)
			go w.bulkLoop()
		}
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
	if w.bulk != nil {
		defer func() {
			w.bulk.close() // the bulk loop appends the rest and closes done
			w.kickBulk()
		}()
	} else {
		defer close(w.done)
	}
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
		if w.bulk != nil {
			w.spool(batch, slices.Clone(events))
			continue
		}
		ctx, cancel := context.WithTimeout(w.ctx, w.opts.SyncTimeout)
		err := w.appendRetry(ctx, events, 0)
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

// spool writes a batch to the spool and releases its Logs, then queues it for
// the bulk loop. A batch the spool cannot take goes to the bulk loop as it
// is, and its Logs wait until it is appended (or dropped).
func (w *Writer) spool(batch []pending, events []*store.AuditEvent) {
	through, err := w.opts.Spool.write(events)
	item := bulkItem{events: events, through: through}
	if err != nil {
		w.opts.Metrics.spoolError()
		w.log.Error("writing audit records to the spool; appending them directly", "err", err.Error(),
			"records", len(events))
		item.through, item.wait = 0, make(chan struct{})
	} else {
		w.spooled.Store(through)
		w.opts.Metrics.spooledRecords(len(events))
		w.release(batch)
	}
	start := time.Now()
	if w.bulk.push(item) {
		w.opts.Metrics.waited(time.Since(start))
	}
	if item.wait != nil {
		<-item.wait
		w.release(batch)
	}
}

func (w *Writer) release(batch []pending) {
	for i := range batch {
		close(batch[i].done)
		batch[i] = pending{}
	}
}

// bulkLoop appends what the group loop spooled, in order, as many records
// at a time as are waiting (up to MaxBatch), moving the spool's mark in the
// same transaction. Spooled records are retried until they are appended or
// Close gives up (they stay in the spool for the next process then); records
// the spool could not take are retried for SyncTimeout, then dropped.
func (w *Writer) bulkLoop() {
	defer close(w.done)
	var events []*store.AuditEvent
	for {
		items := w.bulk.pop(w.opts.MaxBatch)
		if items == nil {
			break
		}
		if items[0].wait != nil {
			w.appendDirect(items[0])
			continue
		}
		events = events[:0]
		for _, it := range items {
			events = append(events, it.events...)
		}
		if len(events) < w.opts.MaxBatch && !w.aborted() {
			// Nobody waits for these records: let more gather for a
			// moment (a commit costs about the same for 1 record as for
			// 100, the pages of the log's indexes), unless Sync or
			// Close asks for them now.
			t := time.NewTimer(bulkLinger)
			select {
			case <-t.C:
			case <-w.kick:
			}
			t.Stop()
			for _, it := range w.bulk.more(w.opts.MaxBatch - len(events)) {
				items = append(items, it)
				events = append(events, it.events...)
			}
		}
		through := items[len(items)-1].through
		if w.aborted() {
			w.left += len(events)
			continue
		}
		if err := w.appendRetry(w.ctx, events, through); err != nil {
			w.left += len(events) // Close gave up: they stay in the spool
			continue
		}
		w.opts.Spool.appended(through)
		w.progress.Lock()
		w.appended = through
		close(w.moved)
		w.moved = make(chan struct{})
		w.progress.Unlock()
		if w.opts.Sink != nil {
			w.opts.Sink.Send(slices.Clone(events))
		}
		clear(events)
	}
	w.progress.Lock()
	through := w.appended
	w.progress.Unlock()
	if err := w.opts.Spool.close(through); err != nil {
		w.log.Error("closing the audit spool", "err", err.Error())
	}
	if w.left > 0 {
		w.log.Error("audit records left in the spool: the next modgate to open it appends them",
			"records", w.left, "spool", w.opts.Spool.Dir())
	}
}

// appendDirect appends a batch the spool could not take, as group commit
// without a spool does, and releases its Logs.
func (w *Writer) appendDirect(item bulkItem) {
	defer close(item.wait)
	if w.aborted() {
		w.lost += len(item.events)
		for _, e := range item.events {
			w.drop(errors.New("audit writer closing"), e)
		}
		return
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.opts.SyncTimeout)
	err := w.appendRetry(ctx, item.events, 0)
	cancel()
	if err != nil {
		w.lost += len(item.events)
		for _, e := range item.events {
			w.drop(err, e)
		}
		return
	}
	if w.opts.Sink != nil {
		w.opts.Sink.Send(item.events)
	}
}

func (w *Writer) aborted() bool {
	select {
	case <-w.abort:
		return true
	default:
		return false
	}
}

// Sync waits until every record whose Log returned before Sync was called is
// in the database, or ctx is done. Only a Writer with a Spool acknowledges
// records before they are appended; without one Sync returns at once.
func (w *Writer) Sync(ctx context.Context) error {
	if w.bulk == nil {
		return nil
	}
	want := w.spooled.Load()
	for {
		w.progress.Lock()
		got, moved := w.appended, w.moved
		w.progress.Unlock()
		if got >= want {
			return nil
		}
		w.kickBulk() // the records are wanted now
		select {
		case <-moved:
		case <-w.done:
			return errors.New("audit: writer closed before its spooled records were appended")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// kickBulk asks the bulk loop to append what it holds without waiting for
// more.
func (w *Writer) kickBulk() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// bulkLinger is how long the bulk loop lets spooled records gather before it
// appends fewer than MaxBatch.
const bulkLinger = 10 * time.Millisecond

// Synced returns a that reads, before each AuditEvents, what the Writer
// acknowledged: records whose Log returned before the read are in its
// answer (see Sync; it waits at most 5 seconds, then reads what is there).
// Without a Spool it returns a itself.
func (w *Writer) Synced(a store.Audit) store.Audit {
	if w.bulk == nil {
		return a
	}
	return syncedAudit{a, w}
}

type syncedAudit struct {
	store.Audit
	w *Writer
}

func (s syncedAudit) AuditEvents(ctx context.Context, q store.AuditQuery) ([]*store.AuditEvent, error) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := s.w.Sync(sctx)
	cancel()
	if err != nil && ctx.Err() == nil {
		s.w.log.Warn("reading the audit log before the spool's last records are appended", "err", err.Error())
	}
	return s.Audit.AuditEvents(ctx, q)
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
	if err := w.appendRetry(w.ctx, batch, 0); err != nil {
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
//
// A positive through appends spooled records and moves the spool's mark with
// them.
func (w *Writer) appendRetry(ctx context.Context, batch []*store.AuditEvent, through int64) error {
	for attempt := 0; ; attempt++ {
		start := time.Now()
		var err error
		if through > 0 {
			err = w.opts.Spool.store.AppendAuditSpooled(ctx, w.opts.Spool.id, through, batch)
		} else {
			err = w.opts.Store.AppendAudit(ctx, batch)
		}
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
		w.abortOnce.Do(func() {
			close(w.abort)
			w.cancel()
			if w.kick != nil {
				w.kickBulk()
			}
		})
		<-w.done
		err = fmt.Errorf("audit: close: %w: %d records not appended (logged)", ctx.Err(), w.lost)
		if w.left > 0 {
			err = fmt.Errorf("%w; %d left in the spool %s, appended by the next modgate to open it",
				err, w.left, w.opts.Spool.Dir())
		}
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
