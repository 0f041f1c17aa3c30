package proxy

import (
	"container/list"
	"sync"

	"github.com/modgate/modgate/internal/store"
)

// memo keeps the records of recently served artifacts in memory, so a cache hit
// costs no database round trip (which was most of a cached .info's time and a
// sixth of a cached zip's). Records are immutable once stored, so a remembered
// one is never stale. The memo sits only in front of the store read: every
// per-request decision still runs on a hit.
//
// It is bounded by the bytes it holds (inline data plus a fixed overhead per
// entry) and evicts the least recently used.
type memo struct {
	mu     sync.Mutex
	max    int64
	size   int64
	order  *list.List // of *memoEntry, most recent first
	byKey  map[string]*list.Element
	maxOne int64 // larger records are not remembered
}

type memoEntry struct {
	key  string
	v    any
	cost int64
}

// memoOverhead approximates the bytes one entry costs beyond its data.
const memoOverhead = 256

func newMemo(maxBytes int64) *memo {
	return &memo{max: maxBytes, maxOne: maxBytes / 64, order: list.New(), byKey: map[string]*list.Element{}}
}

func (m *memo) get(key string) any {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byKey[key]; ok {
		m.order.MoveToFront(e)
		return e.Value.(*memoEntry).v
	}
	return nil
}

// artifact returns a remembered artifact record, or nil.
func (m *memo) artifact(key string) *store.Artifact {
	a, _ := m.get(key).(*store.Artifact)
	return a
}

// putArtifact remembers a. The caller must not modify a afterwards (nor anyone
// it is handed to: served records are read-only).
func (m *memo) putArtifact(key string, a *store.Artifact) {
	m.put(key, a, int64(len(a.Module.Path)+len(a.Module.Version)+len(a.Upstream)+len(a.Data)))
}

// put remembers v under key (replacing what key held), which costs size bytes
// beyond the entry's overhead.
func (m *memo) put(key string, v any, size int64) {
	if m == nil {
		return
	}
	cost := memoOverhead + int64(len(key)) + size
	if cost > m.maxOne {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byKey[key]; ok {
		// Replace: a remembered decision or SBOM id may be renewed.
		me := e.Value.(*memoEntry)
		m.size += cost - me.cost
		me.v, me.cost = v, cost
		m.order.MoveToFront(e)
	} else {
		m.byKey[key] = m.order.PushFront(&memoEntry{key: key, v: v, cost: cost})
		m.size += cost
	}
	for m.size > m.max {
		e := m.order.Back()
		me := e.Value.(*memoEntry)
		m.order.Remove(e)
		delete(m.byKey, me.key)
		m.size -= me.cost
	}
}

// forget drops what is remembered under key.
func (m *memo) forget(key string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byKey[key]; ok {
		m.order.Remove(e)
		delete(m.byKey, key)
		m.size -= e.Value.(*memoEntry).cost
	}
}

// capSet is a bounded memory of keys: once it holds max keys, the next one
// added forgets them all (what it guards is then done again, never skipped
// wrongly). The prefetcher and the read-ahead remember with it what they
// considered already. A key present (add) or absent (remove), the usual
// case on the request path, costs a read lock.
type capSet[K comparable] struct {
	mu  sync.RWMutex
	m   map[K]struct{}
	max int
}

func newCapSet[K comparable](max int) *capSet[K] {
	return &capSet[K]{m: map[K]struct{}{}, max: max}
}

func (c *capSet[K]) has(k K) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.m[k]
	return ok
}

// add adds k and reports whether it was not there.
func (c *capSet[K]) add(k K) bool {
	if c.has(k) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return false
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = struct{}{}
	return true
}

// remove removes k and reports whether it was there.
func (c *capSet[K]) remove(k K) bool {
	if !c.has(k) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[k]
	delete(c.m, k)
	return ok
}
