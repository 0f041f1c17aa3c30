package upstream

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Entry
	}{
		{
			name: "go default",
			in:   "https://proxy.golang.org,direct",
			want: []Entry{{URL: "https://proxy.golang.org"}, {Direct: true}},
		},
		{
			name: "pipe sets fallback on the entry before it",
			in:   "https://a.example|https://b.example,off",
			want: []Entry{{URL: "https://a.example", FallbackOnAnyError: true}, {URL: "https://b.example"}, {Off: true}},
		},
		{
			name: "trailing slash trimmed and spaces ignored",
			in:   " https://a.example/go/ , direct",
			want: []Entry{{URL: "https://a.example/go"}, {Direct: true}},
		},
		{
			name: "bare host gets https like cmd/go",
			in:   "goproxy.example.com/sub",
			want: []Entry{{URL: "https://goproxy.example.com/sub"}},
		},
		{
			name: "userinfo kept in URL",
			in:   "http://user:pw@127.0.0.1:8080/",
			want: []Entry{{URL: "http://user:pw@127.0.0.1:8080"}},
		},
		{
			name: "file URL",
			in:   "file:///srv/goproxy/|direct",
			want: []Entry{{URL: "file:///srv/goproxy", FallbackOnAnyError: true}, {Direct: true}},
		},
		{
			name: "file root",
			in:   "file:///",
			want: []Entry{{URL: "file:///"}},
		},
		{
			name: "off alone",
			in:   "off",
			want: []Entry{{Off: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseList(tt.in)
			if err != nil {
				t.Fatalf("ParseList(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseList(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseListErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "empty", in: "", wantErr: "empty GOPROXY list"},
		{name: "blank", in: "  ", wantErr: "empty GOPROXY list"},
		{name: "empty entry", in: "https://a.example,,direct", wantErr: "entry 2 is empty"},
		{name: "only separator", in: ",", wantErr: "ends with a separator"},
		{name: "trailing separator", in: "https://a.example|", wantErr: "ends with a separator"},
		{name: "entry after direct", in: "direct,https://a.example", wantErr: `comes after "direct"`},
		{name: "entry after off", in: "off|direct", wantErr: `comes after "off"`},
		{name: "unknown word", in: "DIRECT", wantErr: "missing scheme"},
		{name: "unknown scheme", in: "ftp://a.example", wantErr: "scheme must be https, http or file"},
		{name: "no host", in: "https:///path", wantErr: "missing host"},
		{name: "query", in: "https://a.example/?x=1", wantErr: "query or fragment"},
		{name: "relative file", in: "file://relative/dir", wantErr: "only file:///absolute/dir"},
		{name: "file localhost", in: "file://localhost/srv", wantErr: "only file:///absolute/dir"},
		{name: "opaque file is taken as a host, as by cmd/go", in: "file:dir", wantErr: "invalid URL"},
		{name: "absolute path without scheme", in: "/srv/goproxy", wantErr: "missing scheme"},
		{name: "bad URL hides password", in: "https://user:s3cret@a.example:port/", wantErr: "invalid URL"},
		{name: "bad scheme hides password", in: "ftp://user:s3cret@a.example/", wantErr: "scheme must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseList(tt.in)
			if err == nil {
				t.Fatalf("ParseList(%q) = %+v, want error containing %q", tt.in, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseList(%q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("ParseList(%q) error %q shows the password", tt.in, err)
			}
		})
	}
}

func TestEntryRedacted(t *testing.T) {
	tests := []struct {
		name string
		in   Entry
		want string
	}{
		{name: "password", in: Entry{URL: "https://u:pw@a.example/x"}, want: "https://a.example/x"},
		{name: "user only", in: Entry{URL: "https://token@a.example"}, want: "https://a.example"},
		{name: "direct", in: Entry{Direct: true}, want: "direct"},
		{name: "off", in: Entry{Off: true}, want: "off"},
		{name: "file", in: Entry{URL: "file:///srv/p"}, want: "file:///srv/p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.in.Redacted()); diff != "" {
				t.Errorf("Redacted() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
