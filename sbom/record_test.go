package sbom

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRecordRoundTrip(t *testing.T) {
	m := testModule()
	m.Time = m.Time.In(time.FixedZone("UTC+2", 7200))
	id, input, err := NewRecord(m, testOpts)
	if err != nil {
		t.Fatalf("NewRecord: %v", err)
	}
	again, input2, err := NewRecord(m, testOpts)
	if err != nil || again != id || !bytes.Equal(input, input2) {
		t.Fatalf("NewRecord is not deterministic: %q %q %v", id, again, err)
	}
	got, err := DecodeRecordInput(input)
	if err != nil {
		t.Fatalf("DecodeRecordInput: %v", err)
	}
	want := testModule()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeRecordInput (-want +got):\n%s", diff)
	}

	// Rendered later with other settings (an upgrade, a new base URL), the
	// record's own settings win: the document and its namespace are the same.
	later := Options{Namespace: "https://other.example/x", ToolVersion: "v9.9.9", Organization: "Other"}
	dm, opts, err := DecodeRecord(input, testOpts.Created, later)
	if err != nil {
		t.Fatalf("DecodeRecord: %v", err)
	}
	for _, f := range []Format{SPDXJSON, SPDXTagValue, CycloneDXJSON} {
		var a, b bytes.Buffer
		if err := Write(&a, f, m, testOpts); err != nil {
			t.Fatalf("Write(%v) original: %v", f, err)
		}
		if err := Write(&b, f, dm, opts); err != nil {
			t.Fatalf("Write(%v) from record: %v", f, err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%v rendered from the record differs from the original", f)
		}
		if f != CycloneDXJSON && !strings.Contains(b.String(), id) {
			t.Errorf("%v rendered from the record does not carry namespace %s", f, id)
		}
	}
	if rid, err := RecordID(dm, opts); err != nil || rid != id {
		t.Errorf("RecordID = %q, %v; want %q", rid, err, id)
	}
}

func TestRecordInputWithoutOptions(t *testing.T) {
	m := Module{Path: "example.com/M", Version: "v0.1.0"}
	input, err := NewRecordInput(m)
	if err != nil {
		t.Fatalf("NewRecordInput: %v", err)
	}
	if want := `{"v":1,"module":{"path":"example.com/M","version":"v0.1.0"}}`; string(input) != want {
		t.Errorf("NewRecordInput = %s, want %s", input, want)
	}
	_, opts, err := DecodeRecord(input, testOpts.Created, testOpts)
	if err != nil {
		t.Fatalf("DecodeRecord: %v", err)
	}
	if diff := cmp.Diff(testOpts, opts); diff != "" {
		t.Errorf("options of a record without settings (-base +got):\n%s", diff)
	}
	if _, err := NewRecordInput(Module{Path: "example.com/<script>", Version: "v1.0.0"}); err == nil {
		t.Errorf("NewRecordInput accepted an invalid path")
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	for _, in := range []string{
		``, `{`, `[]`, `{"v":2,"module":{"path":"example.com/m","version":"v1.0.0"}}`,
		`{"v":1,"module":{"path":"","version":"v1.0.0"}}`, `{"v":1}`,
	} {
		if m, err := DecodeRecordInput([]byte(in)); err == nil {
			t.Errorf("DecodeRecordInput(%s) = %+v, want an error", in, m)
		}
	}
}
