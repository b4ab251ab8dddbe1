package flow

import "hash/maphash"

// table maps flow keys to cached flows: open addressing with linear
// probing over 16-byte slots (hash, flow), backward-shift deletion (no
// tombstones, so probe sequences stay short however many flows come and
// go), grown at 3/4 load and shrunk at 1/16 so that the memory a flood took
// is given back. The hash is keyed with a random seed per table
// (hash/maphash), so crafted keys cannot force collisions.
//
// A slot stores the hash, not the key: a hit is confirmed against the
// flow's own fields (Flow.matches), which the caller is about to touch
// anyway.
type table struct {
	seed  maphash.Seed
	slots []slot // len is a power of two, or 0
	n     int
}

type slot struct {
	hash uint64 // 0: empty (hashes are made non-zero)
	f    *Flow
}

const minTableSlots = 1024

func newTable() table { return table{seed: maphash.MakeSeed()} }

func (t *table) hash(k *Key) uint64 {
	return maphash.Comparable(t.seed, *k) | 1
}

// len is the number of flows in the table.
func (t *table) len() int { return t.n }

// get returns the flow of k, or nil.
func (t *table) get(k *Key) *Flow {
	if t.n == 0 {
		return nil
	}
	h := t.hash(k)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.hash == 0 {
			return nil
		}
		if s.hash == h && s.f.matches(k) {
			return s.f
		}
	}
}

// put adds f under k, which must not be in the table.
func (t *table) put(k *Key, f *Flow) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(len(t.slots)*2, minTableSlots))
	}
	t.insert(t.hash(k), f)
	t.n++
}

func (t *table) insert(h uint64, f *Flow) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].hash != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = slot{h, f}
}

// del removes f, stored under k.
func (t *table) del(k *Key, f *Flow) {
	h := t.hash(k)
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].f != f {
		if t.slots[i].hash == 0 {
			return // not there
		}
		i = (i + 1) & mask
	}
	// Backward shift: move later entries of the cluster into the hole
	// when their home slot is not between the hole and them.
	for j := (i + 1) & mask; t.slots[j].hash != 0; j = (j + 1) & mask {
		home := t.slots[j].hash & mask
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot{}
	t.n--
	if len(t.slots) > minTableSlots && t.n*16 < len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

func (t *table) resize(size int) {
	old := t.slots
	t.slots = make([]slot, size)
	for _, s := range old {
		if s.hash != 0 {
			t.insert(s.hash, s.f)
		}
	}
}

// matches reports whether k is f's key (MakeKey of its first packet).
func (f *Flow) matches(k *Key) bool {
	if f.Protocol != k.Protocol || f.VlanID != k.VlanID || f.TunnelID != k.TunnelID {
		return false
	}
	lo, hi := addrOf(&k.LoIP, f.IPVersion), addrOf(&k.HiIP, f.IPVersion)
	return (f.SrcPort == k.LoPort && f.DstPort == k.HiPort && f.SrcIP == lo && f.DstIP == hi) ||
		(f.SrcPort == k.HiPort && f.DstPort == k.LoPort && f.SrcIP == hi && f.DstIP == lo)
}
