package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// StreamOptions configure a [Stream].
type StreamOptions struct {
	// Target is "stdout", or the http(s) URL of a webhook that takes
	// batches of records as JSON lines in a POST body
	// (Content-Type: application/x-ndjson).
	Target string
	// Stdout is where "stdout" writes; nil means nowhere (required then).
	Stdout io.Writer
	// Client sends to the webhook; nil means a client with a 30s timeout.
	Client *http.Client
	// QueueSize bounds the records waiting to be sent; when it is full,
	// records are dropped (counted and logged: the database keeps them, and
	// the gap in Seq tells the SIEM what to fetch with an export). Zero
	// means 10000.
	QueueSize int
	// MaxAttempts bounds the tries of one batch, with exponential backoff
	// from 500ms to 30s between them. Zero means 8.
	MaxAttempts int
	// Logger logs failures; nil means slog.Default().
	Logger  *slog.Logger
	Metrics *Metrics
}

// Stream copies appended records as JSON lines (see [Record]) to stdout or a
// webhook, for a SIEM. It is a [Sink] for the [Writer]; it never blocks the
// writer: records beyond its queue are dropped and counted.
type Stream struct {
	opts   StreamOptions
	log    *slog.Logger
	ch     chan streamItem
	mu     sync.Mutex
	closed bool
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
}

// NewStream validates opts and starts the Stream's sending goroutine. It does
// no network I/O.
func NewStream(opts StreamOptions) (*Stream, error) {
	switch {
	case opts.Target == "stdout":
		if opts.Stdout == nil {
			return nil, errors.New("audit stream: stdout target without a writer")
		}
	default:
		u, err := url.Parse(opts.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("audit stream %q: want stdout or an http(s) URL", redact(opts.Target))
		}
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 10000
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	s := &Stream{opts: opts, log: opts.Logger, ch: make(chan streamItem, opts.QueueSize), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.loop()
	return s, nil
}

// redact removes a password from a URL for messages.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// Send implements [Sink]: it queues events, dropping what does not fit.
func (s *Stream) Send(events []*store.AuditEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.dropped(len(events), "stream closed")
		return
	}
	for i, e := range events {
		select {
		case s.ch <- streamItem{e: e}:
		default:
			s.dropped(len(events)-i, "stream queue full")
			return
		}
	}
}

// SendCheckpoint queues a signed checkpoint of the chain (see
// [CheckpointRecord]), dropping it (counted and logged) if the queue is full.
func (s *Stream) SendCheckpoint(c *store.AuditCheckpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.dropped(1, "stream closed")
		return
	}
	r := NewCheckpointRecord(c)
	select {
	case s.ch <- streamItem{cp: &r}:
	default:
		s.dropped(1, "stream queue full")
	}
}

// streamItem is a record or a checkpoint.
type streamItem struct {
	e  *store.AuditEvent
	cp *CheckpointRecord
}

// CheckpointRecord is how a signed checkpoint goes to the SIEM stream, one
// JSON line among the records: Type "checkpoint", and Note the signed note
// that `modgate audit verify --checkpoint` takes.
type CheckpointRecord struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	Size int64     `json:"size"`
	Hash string    `json:"hash"`
	Note string    `json:"note"`
}

// NewCheckpointRecord returns the streamed form of c.
func NewCheckpointRecord(c *store.AuditCheckpoint) CheckpointRecord {
	return CheckpointRecord{Type: "checkpoint", Time: c.Time, Size: c.Size, Hash: c.Hash, Note: string(c.Note)}
}

func (s *Stream) dropped(n int, why string) {
	s.opts.Metrics.streamed("dropped", n)
	s.log.Error("audit records not streamed (they are in the database: export them by seq)", "records", n, "why", why)
}

// maxStreamBatch bounds the records of one write or POST.
const maxStreamBatch = 500

func (s *Stream) loop() {
	defer close(s.done)
	var batch []streamItem
	for e := range s.ch {
		batch = append(batch[:0], e)
	more:
		for len(batch) < maxStreamBatch {
			select {
			case e, ok := <-s.ch:
				if !ok {
					break more
				}
				batch = append(batch, e)
			default:
				break more
			}
		}
		s.send(batch)
	}
}

func (s *Stream) send(batch []streamItem) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	var first, last int64
	for _, it := range batch {
		if it.cp != nil {
			enc.Encode(it.cp) // cannot fail for a CheckpointRecord
			continue
		}
		r := NewRecord(it.e)
		enc.Encode(&r) // cannot fail for a Record
		if first == 0 {
			first = it.e.Seq
		}
		last = it.e.Seq
	}
	var err error
	for attempt := 0; attempt < s.opts.MaxAttempts; attempt++ {
		if attempt > 0 && !sleep(s.ctx, backoff(attempt-1, 500*time.Millisecond, 30*time.Second)) {
			break
		}
		if err = s.post(body.Bytes()); err == nil {
			s.opts.Metrics.streamed("sent", len(batch))
			return
		}
		s.log.Warn("streaming audit records", "err", err.Error(), "attempt", attempt+1, "records", len(batch),
			"first_seq", first)
	}
	s.dropped(len(batch), fmt.Sprintf("records %d to %d: %v", first, last, err))
}

func (s *Stream) post(body []byte) error {
	if s.opts.Target == "stdout" {
		_, err := s.opts.Stdout.Write(body)
		return err
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.opts.Target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL may hold a password
		}
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// Close sends what is queued and stops the Stream; when ctx ends first, it
// stops retrying and drops (counts and logs) the rest. It may be called more
// than once.
func (s *Stream) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		<-s.done
		return fmt.Errorf("audit stream: close: %w", ctx.Err())
	}
}
