package flow

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nfstream-go/nfstream/decode"
)

// TestEvictLeastRecentlySeen: with MaxFlows 2, the third flow evicts the
// flow seen least recently (not the oldest created), which is emitted at
// once with ExpirationEvicted; the survivors are unchanged.
func TestEvictLeastRecentlySeen(t *testing.T) {
	var got []string
	m := NewMeter(Config{IdleTimeoutMs: 120000, ActiveTimeoutMs: 1800000, MaxFlows: 2}, func(f *Flow) {
		got = append(got, fmt.Sprintf("%d:%d:%d", f.SrcPort, f.ExpirationID, f.BidirectionalPackets))
	})
	var p decode.Packet
	synthetic(&p, 1, 1000) // A created
	m.Process(&p)
	synthetic(&p, 2, 1001) // B created
	m.Process(&p)
	synthetic(&p, 1, 1002) // A seen again: B is now the least recent
	m.Process(&p)
	synthetic(&p, 3, 1003) // C evicts B
	m.Process(&p)
	if want := "[2:2:1]"; fmt.Sprint(got) != want {
		t.Fatalf("after C: emitted %v, want %v", got, want)
	}
	if m.Len() != 2 {
		t.Fatalf("cached %d flows, want 2", m.Len())
	}
	synthetic(&p, 4, 1004) // D evicts A (seen at 1002, before C at 1003)
	m.Process(&p)
	m.Flush() // end of input: C, D in creation order, expiration 0
	if want := "[2:2:1 1:2:2 3:0:1 4:0:1]"; fmt.Sprint(got) != want {
		t.Fatalf("emitted %v, want %v", got, want)
	}
}

// TestEvictFlood: a flood of one-packet flows through a capped meter keeps
// exactly MaxFlows cached, emits every other flow evicted, loses no packet,
// and the idle scan still works on the capped cache.
func TestEvictFlood(t *testing.T) {
	const n, limit = 100_000, 1000
	var evicted, idle, packets uint64
	m := NewMeter(Config{IdleTimeoutMs: 120000, ActiveTimeoutMs: 1800000, MaxFlows: limit}, func(f *Flow) {
		switch f.ExpirationID {
		case ExpirationEvicted:
			evicted++
		case ExpirationIdle:
			idle++
		}
		packets += f.BidirectionalPackets
	})
	var p decode.Packet
	for i := range uint32(n) {
		synthetic(&p, i, 1000+uint64(i)/100)
		m.Process(&p)
		if m.Len() > limit {
			t.Fatalf("packet %d: %d flows cached, cap %d", i, m.Len(), limit)
		}
	}
	if evicted != n-limit || m.Len() != limit {
		t.Fatalf("evicted %d, cached %d; want %d, %d", evicted, m.Len(), n-limit, limit)
	}
	// An idle timeout later: the new flow still needs room (the scan
	// runs after the packet, spec 5.4), then the scan ends the others.
	synthetic(&p, n, 1000+n/100+120000)
	m.Process(&p)
	m.Flush()
	if evicted != n-limit+1 || idle != limit || packets != n+1 {
		t.Fatalf("evicted %d, idle %d, packets %d; want %d, %d, %d", evicted, idle, packets, n-limit+1, limit, n+1)
	}
}

// TestCapNotReachedIsNFStream: a cap that is never reached changes
// nothing, ids and order included.
func TestCapNotReachedIsNFStream(t *testing.T) {
	pkts := randomTraffic(rand.New(rand.NewPCG(7, 8)), 20000, 300)
	plain := single(pkts, Config{IdleTimeoutMs: 50, ActiveTimeoutMs: 400})
	capped := single(pkts, Config{IdleTimeoutMs: 50, ActiveTimeoutMs: 400, MaxFlows: 1 << 20})
	if !slices.Equal(capped, plain) {
		d := firstDiff(capped, plain)
		t.Fatal(d)
	}
}

// TestEvictSharded: one shard meter plus the Order emits exactly what a
// capped single meter emits (both evict the least recently seen flow at
// the packet that needs room); with several shards, each holding a share
// of the cap, the merge stays consistent and no packet is lost.
func TestEvictSharded(t *testing.T) {
	pkts := randomTraffic(rand.New(rand.NewPCG(3, 4)), 30000, 400)
	cfg := Config{IdleTimeoutMs: 500, ActiveTimeoutMs: 4000, MaxFlows: 20}
	want := single(pkts, cfg)
	evicted := 0
	for _, s := range want {
		if s.expiration == ExpirationEvicted {
			evicted++
		}
	}
	if evicted < 1000 {
		t.Fatalf("only %d evictions: the test does not exercise the cap", evicted)
	}
	if got := sharded(t, pkts, cfg, nil, 1, 512, 0); !slices.Equal(got, want) {
		d := firstDiff(got, want)
		t.Fatalf("one shard: %s", d)
	}
	for _, n := range []int{2, 3} {
		c := cfg
		c.MaxFlows = cfg.MaxFlows / n
		var packets uint64
		for _, s := range sharded(t, pkts, c, nil, n, 512, 0) {
			packets += s.packets
		}
		if packets != uint64(len(pkts)) {
			t.Fatalf("%d shards: %d packets in flows, want %d", n, packets, len(pkts))
		}
	}
}
