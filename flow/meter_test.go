package flow

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/nfstream-go/nfstream/decode"
)

// synthetic returns the i-th packet of a flood of distinct one-packet TCP flows.
func synthetic(p *decode.Packet, i uint32, t uint64) {
	*p = decode.Packet{TimeMs: t, IPVersion: 4, Protocol: 6, SrcPort: uint16(i), DstPort: 80, RawSize: 60, IPSize: 40, TransportSize: 20}
	binary.BigEndian.PutUint32(p.SrcIP[:], 0x0a000000|i>>16)
	binary.BigEndian.PutUint32(p.DstIP[:], 0xc0a80001)
}

// heapPerFlow fills a meter with n flows and returns the live heap bytes
// per cached flow.
func heapPerFlow(cfg Config, n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := NewMeter(cfg, func(*Flow) {})
	var p decode.Packet
	for i := range uint32(n) {
		synthetic(&p, i, 1000)
		m.Process(&p)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(m)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(m.Len())
}

// BenchmarkMemoryPerFlow reports the live heap per tracked flow, with and
// without statistical_analysis (the target: under 300 bytes without).
func BenchmarkMemoryPerFlow(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"plain", Config{IdleTimeoutMs: 120000, ActiveTimeoutMs: 1800000}},
		{"statistical", Config{IdleTimeoutMs: 120000, ActiveTimeoutMs: 1800000, StatisticalAnalysis: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = heapPerFlow(c.cfg, 200_000)
			}
			b.ReportMetric(per, "bytes/flow")
		})
	}
}

// BenchmarkProcess meters packets of 1000 long-lived flows.
func BenchmarkProcess(b *testing.B) {
	m := NewMeter(Config{IdleTimeoutMs: 120000, ActiveTimeoutMs: 1800000}, func(*Flow) {})
	var p decode.Packet
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		synthetic(&p, i%1000, 1000+uint64(i/1000))
		m.Process(&p)
		i++
	}
}

func TestProcessZeroAllocs(t *testing.T) {
	m := NewMeter(Config{IdleTimeoutMs: 120000, ActiveTimeoutMs: 1800000, StatisticalAnalysis: true, SPLTAnalysis: 10}, func(*Flow) {})
	var p decode.Packet
	for i := range uint32(100) {
		synthetic(&p, i, 1000)
		m.Process(&p)
	}
	i := uint32(0)
	if n := testing.AllocsPerRun(1000, func() {
		synthetic(&p, i%100, 1000+uint64(i))
		m.Process(&p)
		i++
	}); n != 0 {
		t.Errorf("updating a flow allocates %v times per packet", n)
	}
}

// TestCreationOrder checks the cache order rules of spec 5.3 and 5.6: updates
// do not refresh a flow's position, and the idle scan stops at the first
// flow that is not idle.
func TestCreationOrder(t *testing.T) {
	var got []uint16
	m := NewMeter(Config{IdleTimeoutMs: 100, ActiveTimeoutMs: 1 << 40}, func(f *Flow) { got = append(got, f.SrcPort) })
	var p decode.Packet
	synthetic(&p, 1, 1000) // flow A
	m.Process(&p)
	synthetic(&p, 2, 1000) // flow B
	m.Process(&p)
	synthetic(&p, 1, 1050) // A updated: stays first
	m.Process(&p)
	synthetic(&p, 3, 1120) // B idle (120 ≥ 100) but A (70) shields it
	m.Process(&p)
	if len(got) != 0 {
		t.Fatalf("emitted %v before A went idle", got)
	}
	synthetic(&p, 3, 1160) // A idle now: the scan emits A then B
	m.Process(&p)
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("scan emitted %v, want [1 2]", got)
	}
	m.Flush()
	if len(got) != 3 || got[2] != 3 {
		t.Fatalf("flush emitted %v", got)
	}
}

// TestFlushThenReuse: Flush ends every cached flow in creation order,
// leaves the meter empty, and the meter goes on with new flows for the
// same keys (the table is emptied at once, not flow by flow).
func TestFlushThenReuse(t *testing.T) {
	var got []*Flow
	m := NewMeter(Config{IdleTimeoutMs: 120000, ActiveTimeoutMs: 1800000, MaxFlows: 5000}, func(f *Flow) { got = append(got, f) })
	var p decode.Packet
	for i := range uint32(3000) { // the table grows past its first size
		synthetic(&p, i, 1000+uint64(i))
		m.Process(&p)
	}
	synthetic(&p, 0, 5000) // the first flow becomes the last seen
	m.Process(&p)
	m.Flush()
	if m.Len() != 0 || len(got) != 3000 {
		t.Fatalf("after Flush: %d cached, %d emitted; want 0 and 3000", m.Len(), len(got))
	}
	for i, f := range got {
		if f.SrcPort != uint16(i) {
			t.Fatalf("emitted flow %d has source port %d: not creation order", i, f.SrcPort)
		}
	}
	synthetic(&p, 5, 6000) // a key seen before the flush: a new flow
	m.Process(&p)
	synthetic(&p, 5, 6001)
	m.Process(&p)
	if m.Len() != 1 {
		t.Fatalf("%d flows cached after the flush and two packets of one key", m.Len())
	}
	m.Flush()
	if f := got[len(got)-1]; len(got) != 3001 || f.BidirectionalPackets != 2 || f.BidirectionalFirstSeenMs != 6000 {
		t.Fatalf("the flow after the flush: %d emitted, last has %d packets from %d ms", len(got), f.BidirectionalPackets, f.BidirectionalFirstSeenMs)
	}
}
