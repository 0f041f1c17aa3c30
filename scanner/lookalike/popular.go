package lookalike

import (
	_ "embed"
	"strings"
)

// popularTxt is the shipped list of widely used public modules; its header
// says where it comes from and when it was made (mkpopular.go writes it).
//
//go:embed popular.txt
var popularTxt string

// Popular returns the shipped list of widely used public Go modules, each
// Listed, for [NewIndex].
func Popular() []Known {
	var out []Known
	for _, line := range strings.Split(popularTxt, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		path, source, _ := strings.Cut(line, " ")
		out = append(out, Known{Path: path, Listed: true, Source: source})
	}
	return out
}
