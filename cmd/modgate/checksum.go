package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/blob"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/verify"
)

// exitError is a failure whose message has been printed already; it sets the
// exit code only.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func runChecksum(ctx context.Context, e *env) error {
	if len(e.args) == 0 {
		return &usageError{msg: "usage: modgate checksum import FILE... | list [MODULE-PREFIX] | verify | attest | reset-fork"}
	}
	sub, args := e.args[0], e.args[1:]
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "import":
		if len(args) == 0 {
			return &usageError{msg: "usage: modgate checksum import go.sum..."}
		}
		return checksumImport(ctx, e, st, args)
	case "list":
		if len(args) > 1 {
			return &usageError{msg: "usage: modgate checksum list [MODULE-PREFIX]"}
		}
		prefix := ""
		if len(args) == 1 {
			prefix = args[0]
		}
		return checksumList(ctx, e, st, prefix)
	case "verify":
		if len(args) != 0 {
			return &usageError{msg: "usage: modgate checksum verify"}
		}
		return checksumVerify(ctx, e, st)
	case "attest":
		if len(args) != 0 {
			return &usageError{msg: "usage: modgate checksum attest"}
		}
		return checksumAttest(ctx, e, st)
	case "reset-fork":
		if len(args) != 0 {
			return &usageError{msg: "usage: modgate checksum reset-fork"}
		}
		return checksumResetFork(ctx, e, st)
	}
	return &usageError{msg: fmt.Sprintf("unknown checksum command %q (want import, list, verify, attest or reset-fork)", sub)}
}

// goSumLine is one parsed go.sum line.
type goSumLine struct {
	mod  module.Version
	kind store.Kind
	hash string
}

// parseGoSum reads a go.sum file. Every line must be well formed: a go.sum
// that does not parse is rejected whole, and nothing from it is imported.
func parseGoSum(path string) ([]goSumLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []goSumLine
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: want \"module version hash\"", path, n)
		}
		l := goSumLine{mod: module.Version{Path: f[0]}, kind: store.KindZip, hash: f[2]}
		if v, ok := strings.CutSuffix(f[1], "/go.mod"); ok {
			l.mod.Version, l.kind = v, store.KindMod
		} else {
			l.mod.Version = f[1]
		}
		if err := module.Check(l.mod.Path, l.mod.Version); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		if !strings.HasPrefix(l.hash, "h1:") || len(l.hash) != len("h1:")+44 {
			return nil, fmt.Errorf("%s:%d: unsupported hash %q (want h1:...)", path, n, l.hash)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return lines, nil
}

// operator names the person running a command, for audit records.
func operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown user"
}

func checksumImport(ctx context.Context, e *env, st store.Sums, files []string) error {
	by := operator() + " via modgate checksum import"
	var parsed [][]goSumLine
	for _, file := range files {
		lines, err := parseGoSum(file)
		if err != nil {
			return err
		}
		parsed = append(parsed, lines)
	}
	var added, known, conflicts int
	for i, file := range files {
		abs, _ := filepath.Abs(file)
		for _, l := range parsed[i] {
			prev, err := st.Checksum(ctx, l.mod, l.kind)
			if corrupt := (*store.CorruptChecksumError)(nil); errors.As(err, &corrupt) {
				conflicts++
				fmt.Fprintf(e.stderr, "CONFLICT %s %s%s: %s says %s, but the recorded pin cannot be read (%s): it was edited behind modgate's back (modgate checksum verify)\n",
					l.mod.Path, l.mod.Version, modSuffix(l.kind), file, l.hash, corrupt.Detail)
				continue
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			rec := prev
			if prev == nil {
				if rec, err = st.PutChecksum(ctx, &store.Checksum{Module: l.mod, Kind: l.kind, Hash: l.hash, Source: store.SourceGoSum + abs, Client: by}); err != nil {
					return err
				}
			}
			switch {
			case rec.Hash != l.hash:
				conflicts++
				fmt.Fprintf(e.stderr, "CONFLICT %s %s%s: %s says %s, but %s was recorded (%s)\n",
					l.mod.Path, l.mod.Version, modSuffix(l.kind), file, l.hash, rec.Hash, rec.Source)
			case prev == nil:
				added++
			default:
				known++
			}
		}
	}
	fmt.Fprintf(e.stdout, "imported %d hashes (%d recorded already, %d conflicts)\n", added, known, conflicts)
	if conflicts > 0 {
		return &exitError{code: 1}
	}
	return nil
}

func modSuffix(k store.Kind) string {
	if k == store.KindMod {
		return "/go.mod"
	}
	return ""
}

func checksumList(ctx context.Context, e *env, st store.Sums, prefix string) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE\tVERSION\tHASH\tSOURCE\tRECORDED")
	err := st.EachChecksum(ctx, func(c *store.Checksum) error {
		if prefix != "" && c.Module.Path != prefix && !strings.HasPrefix(c.Module.Path, strings.TrimSuffix(prefix, "/")+"/") {
			return nil
		}
		hash, source, recorded := c.Hash, c.Source, c.CreatedAt.Format("2006-01-02T15:04:05Z")
		if c.Corrupt != nil {
			// Edited behind modgate's back: anything may be in it.
			hash, source, recorded = strconv.Quote(hash), strconv.Quote(source), "UNREADABLE (modgate checksum verify)"
		}
		_, err := fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s\n", c.Module.Path, c.Module.Version, modSuffix(c.Kind), hash, source, recorded)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

// checksumVerify re-hashes every stored artifact and compares it with its blob
// key and its recorded h1: hash, so tampering in the blob store is caught;
// then it checks every pin of the checksum store against the audit chain
// (audit.CheckPins), so a pin changed behind modgate's back is caught.
func checksumVerify(ctx context.Context, e *env, st store.Store) error {
	blobs, err := openBlobs(ctx, e.cfg, false)
	if err != nil {
		return err
	}
	var checked, bad int
	problem := func(a *store.Artifact, format string, args ...any) {
		bad++
		fmt.Fprintf(e.stdout, "BAD %s %s .%s: %s\n", a.Module.Path, a.Module.Version, a.Kind, fmt.Sprintf(format, args...))
	}
	err = st.EachArtifact(ctx, func(a *store.Artifact) error {
		if a.Kind == store.KindInfo {
			return nil
		}
		checked++
		var got string
		switch a.Kind {
		case store.KindZip:
			// A local file of the blob (for a bucket, a copy made through
			// the verifying reader) hashed against its key, then its h1:.
			name, release, err := blobs.Local(ctx, a.SHA256, a.Size)
			var ue *blob.UnavailableError
			if errors.As(err, &ue) {
				return err // the store, not the blob: stop and say so
			}
			if err != nil {
				problem(a, "%v", err)
				return nil
			}
			err = blob.VerifyFile(name, a.SHA256, a.Size)
			if err == nil {
				got, err = verify.HashZip(name)
			}
			release()
			if err != nil {
				problem(a, "%v", err)
				return nil
			}
		case store.KindMod:
			full, err := st.Artifact(ctx, a.Module, a.Kind)
			if err != nil {
				return err
			}
			if got, err = verify.HashMod(full.Data); err != nil {
				return err
			}
		}
		rec, err := st.Checksum(ctx, a.Module, a.Kind)
		corrupt := (*store.CorruptChecksumError)(nil)
		switch {
		case errors.As(err, &corrupt):
			problem(a, "recorded hash cannot be read (%s): the checksum store was edited behind modgate's back (now %s)", corrupt.Detail, got)
		case errors.Is(err, fs.ErrNotExist):
			problem(a, "no recorded hash (now %s)", got)
		case err != nil:
			return err
		case rec.Hash != got:
			problem(a, "content changed: recorded %s (%s), now %s", rec.Hash, rec.Source, got)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "checked %d artifacts: %d bad\n", checked, bad)
	pins, err := audit.CheckPins(ctx, st, st)
	if err != nil {
		return err
	}
	for _, p := range pins.Problems {
		fmt.Fprintf(e.stdout, "BAD PIN %s\n", p)
	}
	fmt.Fprintf(e.stdout, "checked %d pins against %d audit records: %d bad\n", pins.Pins, pins.Records, len(pins.Problems))
	if bad > 0 || len(pins.Problems) > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// checksumAttest appends an audit record for every pin that has none (pins
// recorded before modgate audited pins), naming the operator, and prints
// each: after an upgrade, review `checksum verify`'s list, then attest.
func checksumAttest(ctx context.Context, e *env, st store.Store) error {
	rep, err := audit.CheckPins(ctx, st, st)
	if err != nil {
		return err
	}
	by := "attested by " + operator() + " via modgate checksum attest: pinned before pins were audited"
	var events []*store.AuditEvent
	for _, p := range rep.Problems {
		if p.Unrecorded == nil {
			continue
		}
		ev := store.PinEvent(p.Unrecorded)
		ev.Reasons = append(ev.Reasons, by)
		events = append(events, ev)
		fmt.Fprintf(e.stdout, "attest %s %s%s %s (%s, recorded %s)\n", p.Module.Path, p.Module.Version, modSuffix(p.Kind),
			p.Unrecorded.Hash, p.Unrecorded.Source, p.Unrecorded.CreatedAt.Format(time.RFC3339))
	}
	for len(events) > 0 {
		n := min(len(events), 1000)
		if err := st.AppendAudit(ctx, events[:n]); err != nil {
			return err
		}
		events = events[n:]
	}
	fmt.Fprintf(e.stdout, "attested %d pins that had no audit record\n", countUnrecorded(rep))
	return nil
}

func countUnrecorded(rep *audit.PinReport) int {
	n := 0
	for _, p := range rep.Problems {
		if p.Unrecorded != nil {
			n++
		}
	}
	return n
}

// checksumResetFork clears the recorded misbehaviour of the configured
// checksum database (see verify.Verifier.Refresh), with an admin audit
// record; running modgates verify against it again within seconds.
func checksumResetFork(ctx context.Context, e *env, st store.Store) error {
	db, err := verify.ParseSumDB(e.cfg.SumDB)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	if db.Off || db.Name == "" {
		return &usageError{msg: "--sumdb is off: there is no checksum database whose fork could be recorded"}
	}
	f, err := st.ClearSumDBFork(ctx, db.Name)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(e.stdout, "no misbehaviour of checksum database %s is recorded\n", db.Name)
		return nil
	}
	if err != nil {
		return err
	}
	rec := &store.AuditEvent{Type: store.AuditAdmin, Decision: "checksum.reset-fork", Reasons: []string{
		"checksum database " + db.Name + ": recorded misbehaviour cleared by " + operator(),
		"detected " + f.DetectedAt.Format(time.RFC3339) + ": " + f.Detail,
	}}
	if err := st.AppendAudit(ctx, []*store.AuditEvent{rec}); err != nil {
		return fmt.Errorf("the fork record was cleared, but its audit record could not be appended: %w", err)
	}
	fmt.Fprintf(e.stdout, "cleared the misbehaviour of checksum database %s recorded %s (audit record %d):\n%s\n"+
		"modgate verifies against it again within seconds; if the database still forks, it is detected again.\n",
		db.Name, f.DetectedAt.Format(time.RFC3339), rec.Seq, f.Detail)
	return nil
}
