package verify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// knownSumDB are the checksum databases whose keys the go command knows by name.
var knownSumDB = map[string]string{
	"sum.golang.org": "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
}

// SumDB is a parsed GOSUMDB setting.
type SumDB struct {
	Off  bool
	Name string // the database's name, from its key
	Key  string // the verifier key (name+hash+key)
	// URL is the database's own URL when the setting gave one; empty means
	// "reach it through the proxy's /sumdb/<name>/ endpoint, else https://<name>".
	URL string
}

// ParseSumDB parses a setting in GOSUMDB syntax, as the go command does: "off",
// a known name, "name+hash+key", or either of those followed by a URL.
func ParseSumDB(s string) (SumDB, error) {
	s = strings.TrimSpace(s)
	if s == "sum.golang.google.cn" {
		s = "sum.golang.org https://sum.golang.google.cn"
	}
	if s == "off" {
		return SumDB{Off: true}, nil
	}
	f := strings.Fields(s)
	switch {
	case len(f) == 0:
		return SumDB{}, errors.New("--sumdb: missing checksum database (use off to disable)")
	case len(f) > 2:
		return SumDB{}, fmt.Errorf("--sumdb %q: too many fields", s)
	}
	key := f[0]
	if k, ok := knownSumDB[key]; ok {
		key = k
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		return SumDB{}, fmt.Errorf("--sumdb %q: %v (want a known name such as sum.golang.org, or name+hash+key)", s, err)
	}
	db := SumDB{Name: v.Name(), Key: key}
	if len(f) == 2 {
		u, err := url.Parse(f[1])
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return SumDB{}, fmt.Errorf("--sumdb %q: invalid URL %q (want http:// or https://)", s, f[1])
		}
		db.URL = strings.TrimSuffix(f[1], "/")
	}
	return db, nil
}
