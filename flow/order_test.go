package flow

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nfstream-go/nfstream/decode"
)

// sig is what the order tests compare of an emitted flow: its place in the
// emission order and every field the split points decide.
type sig struct {
	id                       uint64
	srcPort, dstPort         uint16
	first, last              uint64
	packets, s2d, d2s, bytes uint64
	expiration               int8
	updatesInPlugin          int64
}

func sigOf(id uint64, f *Flow) sig {
	s := sig{id: id, srcPort: f.SrcPort, dstPort: f.DstPort, first: f.BidirectionalFirstSeenMs, last: f.BidirectionalLastSeenMs,
		packets: f.BidirectionalPackets, s2d: f.Src2DstPackets, d2s: f.Dst2SrcPackets, bytes: f.BidirectionalBytes, expiration: f.ExpirationID}
	if f.UDPS != nil {
		if v, ok := f.UDPS.Get("updates"); ok {
			s.updatesInPlugin = v.Int
		}
	}
	return s
}

// slicer ends flows after limit packets, like FlowSlicer (limit 1: at
// creation), and counts updates in a udps value; flows from an even port
// it marks with an inert expiration_id (5), which only a packet-triggered
// expiry overwrites (spec 5.5).
type slicer struct {
	BasePlugin
	limit uint64
}

func (s *slicer) Clone() Plugin { return &slicer{limit: s.limit} }

func (s *slicer) OnInit(_ *Packet, f *Flow) {
	f.UDPS.Set("updates", Int(0))
	if s.limit == 1 {
		f.ExpirationID = ExpirationCustom
	} else if f.SrcPort%2 == 0 {
		f.ExpirationID = 5
	}
}

func (s *slicer) OnUpdate(_ *Packet, f *Flow) {
	v, _ := f.UDPS.Get("updates")
	f.UDPS.Set("updates", Int(v.Int+1))
	if s.limit > 0 && f.BidirectionalPackets == s.limit {
		f.ExpirationID = ExpirationCustom
	}
}

// packetAt makes a TCP packet between endpoint a and endpoint b of a small
// address space, so that keys repeat and flows are split often.
func packetAt(t uint64, a, b uint16) decode.Packet {
	p := decode.Packet{TimeMs: t, IPVersion: 4, Protocol: 6, SrcPort: 1000 + a%7, DstPort: 1000 + b%7, RawSize: 60, IPSize: 46}
	binary.BigEndian.PutUint32(p.SrcIP[:], 0x0a000000|uint32(a))
	binary.BigEndian.PutUint32(p.DstIP[:], 0x0a000000|uint32(b))
	return p
}

// single meters pkts with one Meter.
func single(pkts []decode.Packet, cfg Config) []sig {
	var out []sig
	m := NewMeter(cfg, func(f *Flow) { out = append(out, sigOf(uint64(len(out)), f)) })
	for _, p := range pkts {
		m.Process(&p)
	}
	m.Flush()
	return out
}

// sharded meters pkts with n shard meters and an Order, merging every
// batch packets (the pipeline's batches), stopping after maxFlows flows
// when it is not 0.
func sharded(t testing.TB, pkts []decode.Packet, cfg Config, plugins func() []Plugin, n, batch, maxFlows int) []sig {
	var out []sig
	o := NewOrder(func(f *Flow) bool {
		out = append(out, sigOf(uint64(len(out)), f))
		return maxFlows == 0 || len(out) < maxFlows
	})
	streams := make([][]Event, n)
	meters := make([]*Meter, n)
	for i := range meters {
		c := cfg
		if plugins != nil {
			c.Plugins = plugins()
		}
		meters[i] = NewShardMeter(c, func(e Event) { streams[i] = append(streams[i], e) })
	}
	merge := func() {
		if err := o.Merge(streams...); err != nil {
			t.Fatal(err)
		}
		for i := range streams {
			streams[i] = streams[i][:0]
		}
	}
	var clock Clock
	for seq, p := range pkts {
		scan := clock.Advance(&p.TimeMs)
		k := MakeKey(&p.SrcIP, &p.DstIP, p.SrcPort, p.DstPort, p.VlanID, p.Protocol, p.TunnelID)
		meters[k.Hash()%uint64(n)].ProcessAt(&p, uint64(seq))
		if scan {
			for _, m := range meters {
				m.ExpireIdle(clock.Tick(), uint64(seq))
			}
		}
		if (seq+1)%batch == 0 {
			merge()
			if o.Stopped() {
				return out
			}
		}
	}
	for _, m := range meters {
		m.Flush()
	}
	merge()
	if !o.Stopped() {
		if err := o.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// randomTraffic returns n packets among keys endpoints with random gaps
// (some of them backwards) around the idle timeout.
func randomTraffic(r *rand.Rand, n, endpoints int) []decode.Packet {
	gaps := []int64{0, 0, 0, 1, 3, 9, 10, 11, 40, 99, 100, 101, 250, 1000, -5, -200}
	pkts := make([]decode.Packet, n)
	t := int64(1_000_000)
	for i := range pkts {
		t += gaps[r.IntN(len(gaps))]
		a, b := uint16(r.IntN(endpoints)), uint16(r.IntN(endpoints))
		pkts[i] = packetAt(uint64(t), a, b)
	}
	return pkts
}

// TestOrderMatchesSingleMeter checks the core claim of sharded metering:
// for any traffic, shard meters plus an Order emit the single meter's flows
// in its order, for any number of shards and any batching.
func TestOrderMatchesSingleMeter(t *testing.T) { checkRandomTraffic(t, 30) }

func checkRandomTraffic(t *testing.T, rounds int) {
	r := rand.New(rand.NewPCG(1, 2))
	type setup struct {
		name     string
		idle     uint64
		active   uint64
		limit    uint64 // slicer plugin limit; 0: no plugin
		maxFlows int
	}
	setups := []setup{
		{"default", 100, 1 << 40, 0, 0},
		{"idle0", 0, 1 << 40, 0, 0},
		{"active0", 100, 0, 0, 0},
		{"active300", 100, 300, 0, 0},
		{"slicer3", 100, 1 << 40, 3, 0},
		{"slicer1", 100, 1 << 40, 1, 0},
		{"slicer2idle0", 0, 1 << 40, 2, 0},
		{"inert", 50, 500, 1 << 30, 0},
		{"max", 100, 1 << 40, 0, 37},
	}
	for round := range rounds {
		pkts := randomTraffic(r, 200+r.IntN(3000), 2+r.IntN(30))
		for _, s := range setups {
			cfg := Config{IdleTimeoutMs: s.idle, ActiveTimeoutMs: s.active}
			var plugins func() []Plugin
			if s.limit > 0 {
				plugins = func() []Plugin { return []Plugin{&slicer{limit: s.limit}} }
				cfg.Plugins = plugins()
			}
			want := single(slices.Clone(pkts), cfg)
			if s.maxFlows > 0 && len(want) > s.maxFlows {
				want = want[:s.maxFlows]
			}
			for _, n := range []int{1, 2, 3, 5} {
				batch := 1 + r.IntN(300)
				got := sharded(t, slices.Clone(pkts), cfg, plugins, n, batch, s.maxFlows)
				if !slices.Equal(got, want) {
					t.Fatalf("round %d %s, %d shards, batch %d: %s", round, s.name, n, batch, firstDiff(got, want))
				}
			}
		}
	}
}

// TestOrderHashCollisions runs TestOrderMatchesSingleMeter with every key
// hashing to the same value, which the Order's table of waiting flows must
// survive.
func TestOrderHashCollisions(t *testing.T) {
	saved := refHash
	defer func() { refHash = saved }()
	refHash = func(k *Key) uint64 { return uint64(k.LoPort % 2) }
	checkRandomTraffic(t, 10)
}

// TestOrderScanBudget checks the scan budget and shielding with more idle
// flows than one scan may emit: 2500 one-packet flows behind an older flow
// that stays active, then packets of some of them while the backlog drains
// 1000 flows per scan.
func TestOrderScanBudget(t *testing.T) {
	var pkts []decode.Packet
	tm := uint64(1_000_000)
	pkts = append(pkts, packetAt(tm, 0, 1)) // the shield
	for i := range uint16(2500) {
		pkts = append(pkts, packetAt(tm, 10+i/7, 2000+i%7*50))
		tm++
		if i%50 == 0 {
			pkts = append(pkts, packetAt(tm, 0, 1))
		}
	}
	tm += 150 // the shield is idle too: the backlog drains, 1000 per scan
	for i := range uint16(40) {
		pkts = append(pkts, packetAt(tm, 5000, 5001))
		for k := range uint16(6) {
			j := 2499 - (i*6+k)*7 // seen again while waiting for the budget
			pkts = append(pkts, packetAt(tm, 10+j/7, 2000+j%7*50))
		}
		tm += 10
	}
	cfg := Config{IdleTimeoutMs: 100, ActiveTimeoutMs: 1 << 40}
	want := single(slices.Clone(pkts), cfg)
	late := 0 // flows emitted by their next packet, before older ones
	for i := 1; i < len(want); i++ {
		if want[i].first < want[i-1].first {
			late++
		}
	}
	if len(want) < 2500 || late < 3 {
		t.Fatalf("single meter: %d flows, %d emitted out of creation order; the test misses its point", len(want), late)
	}
	for _, n := range []int{2, 4} {
		for _, batch := range []int{1, 64, 100000} {
			if got := sharded(t, slices.Clone(pkts), cfg, nil, n, batch, 0); !slices.Equal(got, want) {
				t.Fatalf("%d shards, batch %d: %s", n, batch, firstDiff(got, want))
			}
		}
	}
}

func firstDiff(got, want []sig) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("flow %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("%d flows, want %d", len(got), len(want))
}

// TestShardProcessZeroAllocs checks that a shard meter allocates nothing
// per packet of an existing flow.
func TestShardProcessZeroAllocs(t *testing.T) {
	var events []Event
	m := NewShardMeter(Config{IdleTimeoutMs: 120000, ActiveTimeoutMs: 1800000, StatisticalAnalysis: true, SPLTAnalysis: 10},
		func(e Event) { events = append(events, e) })
	var p decode.Packet
	for i := range uint32(100) {
		synthetic(&p, i, 1000)
		m.ProcessAt(&p, uint64(i))
	}
	i := uint32(0)
	if n := testing.AllocsPerRun(1000, func() {
		synthetic(&p, i%100, 1000+uint64(i))
		m.ProcessAt(&p, uint64(100+i))
		i++
	}); n != 0 {
		t.Errorf("updating a flow in a shard meter allocates %v times per packet", n)
	}
}
