package flow

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
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
				tab.del(want)
				delete(model, k)
			}
			if tab.len() != len(model) {
				t.Fatalf("round %d: len %d, want %d", round, tab.len(), len(model))
			}
		}
		if round == 40 { // empty it: the table must shrink back
			for k, f := range model {
				tab.del(f)
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

// TestTableHashSpreads checks the key hash on what floods look like:
// 200,000 keys that differ only in a few bits (sequential IPv4 sources,
// sequential ports) land on home slots spread evenly enough that no probe
// sequence is long, with 8 different seeds (a multiply-fold without the
// final avalanche gave 38 to 103 slots for one seed in ten, against 14 to
// 25 for every seed now), and every field of the key changes the hash.
func TestTableHashSpreads(t *testing.T) {
	v4 := func(n uint32) [16]byte {
		var a [16]byte
		a[10], a[11] = 0xff, 0xff
		a[12], a[13], a[14], a[15] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		return a
	}
	dst := v4(0x0a000001)
	keys := make([]Key, 0, 200000)
	for i := range uint32(100000) {
		src := v4(0xc0a80000 + i)
		keys = append(keys, MakeKey(&src, &dst, 40000, 80, 0, 6, 0))
	}
	src := v4(0xc0a80001)
	for i := range uint32(100000) {
		keys = append(keys, MakeKey(&src, &dst, uint16(i), uint16(i>>16)+443, 0, 17, 0))
	}
	flows := make([]Flow, len(keys))
	for range 8 {
		tb := newTable()
		for i := range keys {
			tb.put(&keys[i], &flows[i])
		}
		mask := uint64(len(tb.slots) - 1)
		longest := uint64(0)
		for i, s := range tb.slots {
			if s.v != nil {
				longest = max(longest, (uint64(i)-s.hash)&mask)
			}
		}
		if longest > 48 {
			t.Errorf("a probe sequence of %d slots among %d keys in %d slots", longest, len(keys), len(tb.slots))
		}
	}
	tb := newTable()
	base := keys[0]
	h := tb.hash(&base)
	for name, change := range map[string]func(*Key){
		"LoIP":     func(k *Key) { k.LoIP[0] ^= 1 },
		"HiIP":     func(k *Key) { k.HiIP[15] ^= 1 },
		"LoPort":   func(k *Key) { k.LoPort ^= 1 },
		"HiPort":   func(k *Key) { k.HiPort ^= 0x100 },
		"VlanID":   func(k *Key) { k.VlanID ^= 1 },
		"Protocol": func(k *Key) { k.Protocol ^= 1 },
		"TunnelID": func(k *Key) { k.TunnelID ^= 1 },
	} {
		k := base
		change(&k)
		if tb.hash(&k) == h {
			t.Errorf("changing %s leaves the hash unchanged", name)
		}
	}
}

// key rebuilds f's table key from its columns.
func (f *Flow) key() Key {
	src, dst := addrBytes(f.SrcIP), addrBytes(f.DstIP)
	return MakeKey(&src, &dst, f.SrcPort, f.DstPort, f.VlanID, f.Protocol, f.TunnelID)
}

func addrBytes(a netip.Addr) (b [16]byte) {
	if a.Is4() {
		v4 := a.As4()
		copy(b[:4], v4[:])
		return b
	}
	return a.As16()
}
