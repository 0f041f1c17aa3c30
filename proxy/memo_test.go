package proxy

import (
	"fmt"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

func TestMemoEvictsLeastRecentlyUsed(t *testing.T) {
	m := newMemo(64 * 1024)
	rec := func(i int) *store.Artifact {
		return &store.Artifact{Module: module.Version{Path: "example.com/m", Version: fmt.Sprintf("v1.0.%d", i)}, Kind: store.KindInfo, Data: make([]byte, 700)}
	}
	for i := 0; i < 1000; i++ {
		m.putArtifact(fmt.Sprint(i), rec(i))
		if i == 500 {
			m.get("0") // keep 0 recent... until pushed out by newer ones
		}
		if m.size > m.max {
			t.Fatalf("memo holds %d bytes, over its bound %d", m.size, m.max)
		}
	}
	if m.get("999") == nil {
		t.Error("most recent entry was evicted")
	}
	if m.get("1") != nil {
		t.Error("oldest entry was kept past the bound")
	}
	if len(m.byKey) != m.order.Len() {
		t.Errorf("index has %d keys, list %d entries", len(m.byKey), m.order.Len())
	}
	big := &store.Artifact{Data: make([]byte, 2048)} // over max/64
	m.putArtifact("big", big)
	if m.get("big") != nil {
		t.Error("a record over the per-entry bound was remembered")
	}
	m.put("renewed", "old", 10)
	m.put("renewed", "new", 20)
	if got := m.get("renewed"); got != "new" {
		t.Errorf("a renewed entry reads %v, want new", got)
	}
	var sum int64
	for e := m.order.Front(); e != nil; e = e.Next() {
		sum += e.Value.(*memoEntry).cost
	}
	if sum != m.size {
		t.Errorf("memo accounts %d bytes, its entries cost %d", m.size, sum)
	}
	var nilMemo *memo
	nilMemo.putArtifact("x", rec(1))
	if nilMemo.get("x") != nil {
		t.Error("a disabled memo remembered something")
	}
}

func TestMemoForget(t *testing.T) {
	m := newMemo(1 << 20)
	a := &store.Artifact{Module: module.Version{Path: "example.com/m", Version: "v1.0.0"}, Data: []byte("x")}
	m.putArtifact("k", a)
	m.forget("k")
	m.forget("never stored")
	if got := m.artifact("k"); got != nil || m.size != 0 || m.order.Len() != 0 {
		t.Errorf("after forget: %v, size %d, %d entries", got, m.size, m.order.Len())
	}
}

// A capSet remembers each key once, forgets one removed, and forgets all
// once full (so what it guards is done again, never skipped).
func TestCapSet(t *testing.T) {
	c := newCapSet[string](2)
	if !c.add("a") || c.add("a") {
		t.Fatal("add(a) twice: want true, then false")
	}
	if !c.remove("a") || c.remove("a") {
		t.Fatal("remove(a) twice: want true, then false")
	}
	c.add("a")
	c.add("b")
	if !c.add("c") { // full: forgets a and b
		t.Fatal("add(c) on a full set = false")
	}
	if !c.add("a") {
		t.Error("a still remembered after the set was full")
	}
	if c.add("c") {
		t.Error("c forgotten")
	}
}
