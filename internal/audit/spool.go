package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modgate/modgate/internal/filelock"
	"github.com/modgate/modgate/internal/store"
)

// A Spool is the audit log's write-ahead file: a directory of segment files
// to which the [Writer] writes each batch of records before it tells their
// requests they are recorded, and from which it appends them to the database
// in bulk, off the requests' path.
//
// A record written to the spool is in the operating system's page cache when
// its request is answered, so it survives the process being killed (kill -9,
// a crash, an out-of-memory kill): the next process to open the spool appends
// it. This is the durability SQLite gives a commit in WAL mode with
// synchronous=NORMAL; like such a commit, the last records may be lost when
// the machine itself loses power.
//
// Records are numbered 1, 2, 3, ... per spool, and the database keeps the
// number of the last one appended, moved in the same transaction as the
// records ([store.AuditSpools]), so a replay after a crash appends each
// record exactly once. One process at a time holds a spool (a lock file);
// its identity is a random id kept in the directory.
type Spool struct {
	dir   string
	id    string
	store store.AuditSpools
	log   *slog.Logger
	lock  *os.File

	mu     sync.Mutex
	f      *os.File  // the segment being written; nil until the next write opens one
	path   string    // f's path
	size   int64     // bytes of whole records in f
	last   int64     // number of the last record written (0: none yet)
	full   []segment // segments no longer written, oldest first
	buf    []byte
	broken error // set when f holds a partial record it could not cut off
}

// segment is a spool file no longer written: its path and the number of its
// last record.
type segment struct {
	path string
	last int64
}

// spoolSegmentSize is the size past which the spool starts a new segment file;
// a segment is removed once its records are all appended.
const spoolSegmentSize = 4 << 20

// spoolReplayBatch is the most records of one append when a spool is replayed.
const spoolReplayBatch = 1000

// ErrSpoolBusy is returned by [OpenSpool] when another process holds the spool.
var ErrSpoolBusy = errors.New("audit spool in use by another process")

// OpenSpool opens (making it if needed) the spool in dir, first appending to
// st every record a previous process wrote to it and did not append (after a
// crash, or a shutdown that gave up), in order and each once. It returns how
// many records it appended that way. A record cut short at the very end of
// the spool (a write the machine lost power in) is logged and skipped;
// anything else unreadable is an error that names the file, and nothing after
// it is appended. It returns [ErrSpoolBusy] if another live process holds
// the spool. The caller must Close the Spool (a [Writer] given it does).
func OpenSpool(ctx context.Context, dir string, st store.AuditSpools, log *slog.Logger) (_ *Spool, replayed int, err error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("audit spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("audit spool: %w", err)
	}
	ok, err := filelock.TryLock(lock)
	if err != nil || !ok {
		lock.Close()
		if err == nil {
			err = ErrSpoolBusy
		}
		return nil, 0, fmt.Errorf("audit spool %s: %w", dir, err)
	}
	s := &Spool{dir: dir, store: st, log: log, lock: lock}
	defer func() {
		if err != nil {
			lock.Close()
		}
	}()
	if s.id, err = spoolID(dir); err != nil {
		return nil, 0, err
	}
	mark, err := st.AuditSpoolMark(ctx, s.id)
	if err != nil {
		return nil, 0, fmt.Errorf("audit spool %s: %w", dir, err)
	}
	files, err := s.segments()
	if err != nil {
		return nil, 0, err
	}
	s.last = mark
	for i, path := range files {
		n, last, err := s.replay(ctx, path, mark, i == len(files)-1)
		replayed += n
		if err != nil {
			return nil, replayed, err
		}
		s.last = max(s.last, last)
	}
	// Everything is appended: start again with an empty spool.
	for _, path := range files {
		if err := os.Remove(path); err != nil {
			return nil, replayed, fmt.Errorf("audit spool: %w", err)
		}
	}
	if replayed > 0 {
		log.Warn("appended audit records left in the spool by a previous process", "records", replayed, "spool", dir)
	}
	return s, replayed, nil
}

// spoolID reads the spool's id, making one for a new spool.
func spoolID(dir string) (string, error) {
	name := filepath.Join(dir, "id")
	b, err := os.ReadFile(name)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			return "", fmt.Errorf("audit spool: %s holds %q, not a spool id: restore it or move the directory aside", name, b)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("audit spool: %w", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.spool"))
	if len(files) > 0 {
		return "", fmt.Errorf("audit spool: %s is missing but %d spool files are there: restore it or move the directory aside", name, len(files))
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(r[:])
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("audit spool: %w", err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return "", fmt.Errorf("audit spool: %w", err)
	}
	return id, nil
}

// segments lists the spool's segment files, oldest first (their names are
// the number of their first record, in fixed-width hex).
func (s *Spool) segments() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	var files []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".spool"); ok && len(name) == 16 {
			if _, err := strconv.ParseUint(name, 16, 64); err == nil {
				files = append(files, filepath.Join(s.dir, e.Name()))
			}
		}
	}
	slices.Sort(files)
	return files, nil
}

// replay appends the records of one segment numbered after mark, in batches,
// each batch moving the spool's mark. lastFile says whether a record cut
// short at the end is to be skipped (the end of the spool) or is an error.
func (s *Spool) replay(ctx context.Context, path string, mark int64, lastFile bool) (replayed int, last int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("audit spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var batch []*store.AuditEvent
	var through int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.store.AppendAuditSpooled(ctx, s.id, through, batch); err != nil {
			return fmt.Errorf("audit spool %s: appending records up to %d: %w", path, through, err)
		}
		replayed += len(batch)
		batch = batch[:0]
		return nil
	}
	for line := 1; ; line++ {
		b, rerr := r.ReadBytes('\n')
		if len(b) == 0 && rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != io.EOF {
			return replayed, last, fmt.Errorf("audit spool: %w", rerr)
		}
		n, e, perr := decodeSpooled(b)
		if perr == nil && rerr == io.EOF {
			perr = errors.New("no newline at its end")
		}
		if perr == nil && last != 0 && n != last+1 {
			perr = fmt.Errorf("record %d follows record %d", n, last)
		}
		if perr != nil {
			// A write cut short by a power loss (no newline yet, or
			// blocks the file system had not filled) at the very end of
			// the spool: the request it was for was never answered.
			torn := rerr == io.EOF || len(bytes.Trim(b, "\x00\n")) == 0
			if rest, _ := io.Copy(io.Discard, r); torn && lastFile && rest == 0 {
				s.log.Warn("audit spool: skipped a record cut short at its end", "file", path, "line", line,
					"bytes", len(b), "err", perr.Error())
				break
			}
			if err := flush(); err != nil {
				return replayed, last, err
			}
			return replayed, last, fmt.Errorf("audit spool %s line %d: %v; the records from there on are not appended: repair or move the file aside to start", path, line, perr)
		}
		last = n
		if n <= mark {
			continue
		}
		batch = append(batch, e)
		through = n
		if len(batch) == spoolReplayBatch {
			if err := flush(); err != nil {
				return replayed, last, err
			}
		}
	}
	return replayed, last, flush()
}

// spooled is a record as the spool holds it: one JSON object a line.
type spooled struct {
	N           int64     `json:"n"`
	Time        time.Time `json:"time"`
	Type        string    `json:"type"`
	ClientToken string    `json:"client_token,omitempty"`
	ClientIP    string    `json:"client_ip,omitempty"`
	UserAgent   string    `json:"user_agent,omitempty"`
	Module      string    `json:"module,omitempty"`
	Version     string    `json:"version,omitempty"`
	Kind        string    `json:"kind,omitempty"`
	Decision    string    `json:"decision"`
	Reasons     []string  `json:"reasons,omitempty"`
	Source      string    `json:"source,omitempty"`
	Bytes       int64     `json:"bytes,omitempty"`
	DurationNS  int64     `json:"duration_ns,omitempty"`
	SBOM        string    `json:"sbom,omitempty"`
}

func decodeSpooled(line []byte) (int64, *store.AuditEvent, error) {
	var r spooled
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return 0, nil, err
	}
	if r.N <= 0 || r.Time.IsZero() || r.Type == "" {
		return 0, nil, errors.New("not a spooled audit record")
	}
	return r.N, &store.AuditEvent{Time: r.Time, Type: r.Type, ClientToken: r.ClientToken, ClientIP: r.ClientIP,
		UserAgent: r.UserAgent, Module: r.Module, Version: r.Version, Kind: r.Kind, Decision: r.Decision,
		Reasons: r.Reasons, Source: r.Source, Bytes: r.Bytes, Duration: time.Duration(r.DurationNS), SBOM: r.SBOM}, nil
}

// write numbers events, normalizes them ([store.NormalizeAudit]) and writes
// them to the spool with one write, returning the number of the last. When
// it fails, the spool is as it was before (a partial write is cut off).
func (s *Spool) write(events []*store.AuditEvent) (last int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return 0, s.broken
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return 0, err
		}
	}
	buf := s.buf[:0]
	n := s.last
	for _, e := range events {
		store.NormalizeAudit(e)
		n++
		r := spooled{N: n, Time: e.Time, Type: e.Type, ClientToken: e.ClientToken,
			ClientIP: e.ClientIP, UserAgent: e.UserAgent, Module: e.Module, Version: e.Version, Kind: e.Kind,
			Decision: e.Decision, Reasons: e.Reasons, Source: e.Source, Bytes: e.Bytes,
			DurationNS: int64(e.Duration), SBOM: e.SBOM}
		if buf, err = r.appendJSON(buf); err != nil {
			return 0, fmt.Errorf("audit spool: %w", err)
		}
		buf = append(buf, '\n')
	}
	if cap(buf) <= 1<<20 {
		s.buf = buf
	}
	if _, err := s.f.Write(buf); err != nil {
		// Cut off what part of the batch was written, so that the next
		// write follows whole records.
		if terr := s.f.Truncate(s.size); terr != nil {
			s.broken = fmt.Errorf("audit spool %s: a failed write could not be cut off (%v): %w", s.path, terr, err)
			return 0, s.broken
		}
		if _, serr := s.f.Seek(s.size, io.SeekStart); serr != nil {
			s.broken = fmt.Errorf("audit spool %s: %w", s.path, serr)
			return 0, s.broken
		}
		return 0, fmt.Errorf("audit spool %s: %w", s.path, err)
	}
	s.size += int64(len(buf))
	s.last = n
	if s.size >= spoolSegmentSize {
		if err := s.f.Close(); err != nil {
			s.log.Error("audit spool: closing a full segment", "file", s.path, "err", err.Error())
		}
		s.full = append(s.full, segment{path: s.path, last: s.last})
		s.f = nil // the next write starts a segment
	}
	return n, nil
}

// open starts a segment for the records after s.last.
func (s *Spool) open() error {
	path := filepath.Join(s.dir, fmt.Sprintf("%016x.spool", s.last+1))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	s.f, s.path, s.size = f, path, 0
	return nil
}

// appended tells the spool its records up to through are in the database:
// segments holding only such records are removed.
func (s *Spool) appended(through int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.full) > 0 && s.full[0].last <= through {
		if err := os.Remove(s.full[0].path); err != nil {
			s.log.Error("audit spool: removing an appended segment", "file", s.full[0].path, "err", err.Error())
			return
		}
		s.full = s.full[1:]
	}
}

// close closes the spool; the segments are removed if through (the last
// record appended) is the last written, and kept for the next process
// otherwise.
func (s *Spool) close(through int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.f != nil {
		err = s.f.Close()
		if s.size > 0 {
			s.full = append(s.full, segment{path: s.path, last: s.last})
		} else {
			err = errors.Join(err, os.Remove(s.path))
		}
		s.f = nil
	}
	for _, seg := range s.full {
		if seg.last <= through {
			err = errors.Join(err, os.Remove(seg.path))
		}
	}
	s.full = nil
	return errors.Join(err, s.lock.Close())
}

// Close closes a spool that no [Writer] was given (a Writer closes its own):
// after OpenSpool replayed it, it holds nothing, and it is left empty.
func (s *Spool) Close() error { return s.close(s.last) }

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// appendJSON appends r as json.Marshal encodes it (the same bytes: the
// tests compare them over hostile and random strings), without its
// reflection: a spool line is written for every request.
func (r *spooled) appendJSON(b []byte) ([]byte, error) {
	t, err := r.Time.MarshalJSON()
	if err != nil {
		return b, err
	}
	b = append(b, `{"n":`...)
	b = strconv.AppendInt(b, r.N, 10)
	b = append(append(append(b, `,"time":`...), t...), `,"type":`...)
	b = appendJSONString(b, r.Type)
	b = appendJSONField(b, "client_token", r.ClientToken)
	b = appendJSONField(b, "client_ip", r.ClientIP)
	b = appendJSONField(b, "user_agent", r.UserAgent)
	b = appendJSONField(b, "module", r.Module)
	b = appendJSONField(b, "version", r.Version)
	b = appendJSONField(b, "kind", r.Kind)
	b = append(b, `,"decision":`...)
	b = appendJSONString(b, r.Decision)
	if len(r.Reasons) > 0 {
		b = append(b, `,"reasons":[`...)
		for i, s := range r.Reasons {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	b = appendJSONField(b, "source", r.Source)
	if r.Bytes != 0 {
		b = strconv.AppendInt(append(b, `,"bytes":`...), r.Bytes, 10)
	}
	if r.DurationNS != 0 {
		b = strconv.AppendInt(append(b, `,"duration_ns":`...), r.DurationNS, 10)
	}
	b = appendJSONField(b, "sbom", r.SBOM)
	return append(b, '}'), nil
}

// appendJSONField appends ,"name":s unless s is empty (omitempty).
func appendJSONField(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	b = append(append(append(b, `,"`...), name...), `":`...)
	return appendJSONString(b, s)
}

// appendJSONString appends s as a JSON string. A string of printable ASCII
// that encoding/json leaves as it is (no quote, backslash or HTML
// character) is copied; any other goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}
