package verify

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSumDB(t *testing.T) {
	const golang = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
	tests := []struct {
		name, in string
		want     SumDB
		wantErr  bool
	}{
		{name: "off", in: "off", want: SumDB{Off: true}},
		{name: "known name", in: "sum.golang.org", want: SumDB{Name: "sum.golang.org", Key: golang}},
		{name: "full key", in: golang, want: SumDB{Name: "sum.golang.org", Key: golang}},
		{name: "key and URL", in: "sum.golang.org http://127.0.0.1:1234/", want: SumDB{Name: "sum.golang.org", Key: golang, URL: "http://127.0.0.1:1234"}},
		{name: "china mirror", in: "sum.golang.google.cn", want: SumDB{Name: "sum.golang.org", Key: golang, URL: "https://sum.golang.google.cn"}},
		{name: "empty", in: "", wantErr: true},
		{name: "unknown name", in: "sum.example.com", wantErr: true},
		{name: "bad URL", in: "sum.golang.org ftp://x", wantErr: true},
		{name: "relative URL", in: "sum.golang.org /x", wantErr: true},
		{name: "too many fields", in: "sum.golang.org https://a https://b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSumDB(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSumDB(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" && !tt.wantErr {
				t.Errorf("ParseSumDB(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
