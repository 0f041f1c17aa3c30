package proxy

import (
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// The go command loads a module graph a level at a time: it asks for the
// go.mod files a go.mod requires right after it got that go.mod. Each .mod
// modgate fetches waits for its upstream and for its record in the checksum
// database, whose lookup needs the tiles of its inclusion proof: two round
// trips after each other, against one for the upstream. So when a go.mod is
// fetched, the checksum-database records of the versions it requires are
// looked up ahead (verify.Verifier.Prefetch: verified exactly as a Check
// would, and kept in the sumdb client's memory and the verified cache): when
// the client then asks for them, their check does not wait for the
// database. Only the database is asked ahead, never the upstream: no
// artifact is fetched that no client asked for, and private modules (no
// checksum database) are never looked up.

// maxPrefetchPerMod bounds the lookups one go.mod starts: a hostile go.mod
// listing thousands of requirements makes at most this many.
const maxPrefetchPerMod = 500

// prefetchConcurrency bounds the lookups run ahead at once.
const prefetchConcurrency = 16

// prefetchedCap bounds the versions remembered as looked up ahead already.
const prefetchedCap = 50000

// prefetcher runs the lookups ahead.
type prefetcher struct {
	sem  chan struct{}
	seen *capSet[module.Version] // versions looked up already
}

func newPrefetcher() *prefetcher {
	return &prefetcher{sem: make(chan struct{}, prefetchConcurrency), seen: newCapSet[module.Version](prefetchedCap)}
}

// requirementsOf returns the versions a go.mod requires that may be looked
// up: valid paths at canonical versions, at most maxPrefetchPerMod.
func requirementsOf(f *modfile.File) []module.Version {
	var out []module.Version
	for _, r := range f.Require {
		m := r.Mod
		if len(out) == maxPrefetchPerMod {
			break
		}
		if module.Check(m.Path, m.Version) != nil || semver.Canonical(m.Version) != m.Version {
			continue
		}
		out = append(out, m)
	}
	return out
}

// prefetchRequirements looks up, in the background, the checksum-database
// records of the versions the go.mod f requires (see the top of this file).
func (s *Server) prefetchRequirements(f *modfile.File) {
	if s.prefetch == nil || f == nil {
		return
	}
	reqs := requirementsOf(f)
	if len(reqs) == 0 {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		for _, m := range reqs {
			if !s.prefetch.seen.add(m) {
				continue
			}
			s.prefetch.sem <- struct{}{}
			// Registered only now, when it runs: a client's Check of m
			// waits for a registered lookup, never for this queue.
			lookup := s.opts.Verifier.Prefetch(m)
			if lookup == nil {
				<-s.prefetch.sem
				continue
			}
			s.bg.Add(1)
			go func() {
				defer s.bg.Done()
				defer func() { <-s.prefetch.sem }()
				lookup()
			}()
		}
	}()
}
