package flow

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestTableMatchesMap drives the table and a Go map with the same random
// puts, gets and deletes over a small key space (so that clusters form,
// wrap around and get deleted from), through growth and shrinking.
func TestTableMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tab := newTable()
	model := map[Key]*Flow{}
	flowOf := func(i uint32) *Flow {
		f := &Flow{SrcPort: uint16(i), DstPort: 80, Protocol: 6, IPVersion: 4}
		var a, b [16]byte
		binary.BigEndian.PutUint32(a[:], 0x0a000000|i>>16)
		binary.BigEndian.PutUint32(b[:], 0xc0a80001)
		f.SrcIP, f.DstIP = addrOf(&a, 4), addrOf(&b, 4)
		return f
	}
	for round := range 60 {
		space := uint32(100 + round*round*20) // up to ~70k keys: grows, then shrinks below
		for range 20000 {
			i := r.Uint32N(space)
			f := flowOf(i)
			k := f.key()
			want := model[k]
			got := tab.get(&k)
			if (got == nil) != (want == nil) || (got != nil && got != want) {
				t.Fatalf("round %d key %d: get %p, want %p", round, i, got, want)
			}
			switch {
			case want == nil && r.IntN(3) > 0:
				tab.put(&k, f)
				model[k] = f
			case want != nil && r.IntN(2) == 0:
				tab.del(&k, want)
				delete(model, k)
			}
			if tab.len() != len(model) {
				t.Fatalf("round %d: len %d, want %d", round, tab.len(), len(model))
			}
		}
		if round == 40 { // empty it: the table must shrink back
			for k, f := range model {
				tab.del(&k, f)
				delete(model, k)
			}
			if tab.len() != 0 || len(tab.slots) != minTableSlots {
				t.Fatalf("after emptying: %d flows in %d slots", tab.len(), len(tab.slots))
			}
		}
	}
	for k, f := range model {
		if tab.get(&k) != f {
			t.Fatalf("final: flow of %v lost", k)
		}
	}
}

// BenchmarkTableGet looks up 100,000 cached flows in random order.
func BenchmarkTableGet(b *testing.B) {
	tab := newTable()
	const n = 100_000
	keys := make([]Key, n)
	for i := range uint32(n) {
		f := &Flow{SrcPort: uint16(i), DstPort: 80, Protocol: 6, IPVersion: 4}
		var a, c [16]byte
		binary.BigEndian.PutUint32(a[:], 0x0a000000|i>>16)
		binary.BigEndian.PutUint32(c[:], 0xc0a80001)
		f.SrcIP, f.DstIP = addrOf(&a, 4), addrOf(&c, 4)
		keys[i] = f.key()
		tab.put(&keys[i], f)
	}
	r := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	for b.Loop() {
		k := &keys[r.IntN(n)]
		if tab.get(k) == nil {
			b.Fatal("missing")
		}
	}
}
