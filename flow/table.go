package flow

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
)

// openTable is the open-addressing hash table under the meter's flow
// table and the Order's waiting list: linear probing over 16-byte slots
// (hash, pointer), backward-shift deletion (no tombstones, so probe
// sequences stay short however many entries come and go, and a lookup of an
// absent key stops at the first empty slot), grown at 3/4 load and shrunk
// at 1/16 so that the memory a flood took is given back. Hashes must come
// from a hash keyed with a secret random seed, so that crafted keys cannot force
// collisions. Lookups are written by each user, who knows how to confirm a
// hit.
type openTable[T any] struct {
	slots []openSlot[T] // len is a power of two, or 0
	n     int
}

type openSlot[T any] struct {
	hash uint64
	v    *T // nil: empty
}

const minTableSlots = 1024

// put adds v under hash h.
func (t *openTable[T]) put(h uint64, v *T) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(len(t.slots)*2, minTableSlots))
	}
	t.insert(h, v)
	t.n++
}

func (t *openTable[T]) insert(h uint64, v *T) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].v != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = openSlot[T]{h, v}
}

// slot returns the index of v, stored under h, or -1.
func (t *openTable[T]) slot(h uint64, v *T) int {
	if t.n == 0 {
		return -1
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; t.slots[i].v != nil; i = (i + 1) & mask {
		if t.slots[i].v == v {
			return int(i)
		}
	}
	return -1
}

// replace stores w in the place of v, both under h.
func (t *openTable[T]) replace(h uint64, v, w *T) {
	if i := t.slot(h, v); i >= 0 {
		t.slots[i].v = w
	}
}

// remove deletes v, stored under h.
func (t *openTable[T]) remove(h uint64, v *T) {
	s := t.slot(h, v)
	if s < 0 {
		return
	}
	mask := uint64(len(t.slots) - 1)
	i := uint64(s)
	// Backward shift: move later entries of the cluster into the hole
	// unless their home slot lies between the hole and them.
	for j := (i + 1) & mask; t.slots[j].v != nil; j = (j + 1) & mask {
		home := t.slots[j].hash & mask
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = openSlot[T]{}
	t.n--
	if len(t.slots) > minTableSlots && t.n*16 < len(t.slots) {
		t.resize(len(t.slots) / 2)
	}
}

// clear empties the table and drops its slots.
func (t *openTable[T]) clear() { t.slots, t.n = nil, 0 }

// resize moves the entries into a new array of size slots. The new array
// is written before it is probed: memory fresh from the kernel that is
// read first is mapped to the shared zero page, and the write that follows
// then costs a copy-on-write fault with a TLB flush on every other CPU the
// process runs on (an interrupt, a VM exit on a virtual machine). Clearing
// it takes plain first-touch faults instead (docs/performance.md).
func (t *openTable[T]) resize(size int) {
	old := t.slots
	t.slots = make([]openSlot[T], size)
	clear(t.slots)
	for _, s := range old {
		if s.v != nil {
			t.insert(s.hash, s.v)
		}
	}
}

// table maps flow keys to a meter's cached flows. A slot stores the hash,
// not the key: a hit is confirmed against the flow's own fields
// (Flow.matches), which the caller is about to touch anyway. The hash is
// keyed with random seeds per table.
type table struct {
	seed [5]uint64
	openTable[Flow]
}

func newTable() table {
	var t table
	for i := range t.seed {
		t.seed[i] = maphash.Comparable(maphash.MakeSeed(), i)
	}
	return t
}

// hash mixes the key's five 64-bit words with the table's secret seeds
// (multiply-and-fold, as wyhash does: three 128-bit products), then
// avalanches the result (murmur3's finaliser): a product alone spreads
// keys that differ only in a word's top bits (the last byte of an IPv4
// address, loaded little-endian) almost linearly, which clusters slots.
// Hashing 40 bytes through hash/maphash instead was 8% of a metering run.
func (t *table) hash(k *Key) uint64 {
	le := binary.LittleEndian
	w4 := uint64(k.LoPort) | uint64(k.HiPort)<<16 | uint64(k.VlanID)<<32 | uint64(k.Protocol)<<48 | uint64(k.TunnelID)<<56
	h := fold(le.Uint64(k.LoIP[:8])^t.seed[0], le.Uint64(k.LoIP[8:])^t.seed[1]) ^
		fold(le.Uint64(k.HiIP[:8])^t.seed[2], le.Uint64(k.HiIP[8:])^t.seed[3]) ^
		fold(w4^t.seed[4], t.seed[0]^0xe7037ed1a0b428db)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	return h ^ h>>33
}

// fold is the xor of the two halves of a*b.
func fold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
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
		if s.v == nil {
			return nil
		}
		if s.hash == h && s.v.matches(k) {
			return s.v
		}
	}
}

// put adds f under k, which must not be in the table, and keeps k's hash
// in f for del.
func (t *table) put(k *Key, f *Flow) {
	f.tableHash = t.hash(k)
	t.openTable.put(f.tableHash, f)
}

// del removes f, stored by put: without its key, which expiring flows
// would otherwise rebuild and hash again.
func (t *table) del(f *Flow) { t.remove(f.tableHash, f) }

// matches reports whether k is f's key (MakeKey of its first packet).
func (f *Flow) matches(k *Key) bool {
	if f.Protocol != k.Protocol || f.VlanID != k.VlanID || f.TunnelID != k.TunnelID {
		return false
	}
	lo, hi := addrOf(&k.LoIP, f.IPVersion), addrOf(&k.HiIP, f.IPVersion)
	return (f.SrcPort == k.LoPort && f.DstPort == k.HiPort && f.SrcIP == lo && f.DstIP == hi) ||
		(f.SrcPort == k.HiPort && f.DstPort == k.LoPort && f.SrcIP == hi && f.DstIP == lo)
}

// refTable is the Order's waiting list: the first waiting Ref of each key
// hash (Ref.hash, seeded); the others with that hash are chained through
// Ref.same.
type refTable struct{ openTable[Ref] }

// get returns the first waiting Ref of hash h, or nil.
func (t *refTable) get(h uint64) *Ref {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.v == nil || s.hash == h {
			return s.v
		}
	}
}
