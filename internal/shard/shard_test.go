package shard

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// TestHashSymmetric checks that both directions of a flow go to the same
// meter and that the key's every part counts.
func TestHashSymmetric(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		var p decode.Packet
		for i := range p.SrcIP {
			p.SrcIP[i], p.DstIP[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		if r.IntN(2) == 0 { // IPv4
			clear(p.SrcIP[4:])
			clear(p.DstIP[4:])
		}
		p.SrcPort, p.DstPort, p.Protocol, p.VlanID, p.TunnelID = uint16(r.Uint32()), uint16(r.Uint32()), uint8(r.Uint32()), uint16(r.Uint32()), uint8(r.IntN(4))
		q := p
		q.SrcIP, q.DstIP, q.SrcPort, q.DstPort = p.DstIP, p.SrcIP, p.DstPort, p.SrcPort
		if hash(&p) != hash(&q) {
			t.Fatalf("hash differs by direction: %+v", p)
		}
		for _, change := range []func(*decode.Packet){
			func(x *decode.Packet) { x.SrcPort++ },
			func(x *decode.Packet) { x.Protocol++ },
			func(x *decode.Packet) { x.VlanID++ },
			func(x *decode.Packet) { x.TunnelID++ },
			func(x *decode.Packet) { x.DstIP[3]++ },
		} {
			x := p
			change(&x)
			if hash(&x) == hash(&p) {
				t.Fatalf("hash ignores a change of %+v", p)
			}
		}
	}
}

// TestHashBalance checks that the corpus's flows spread evenly enough
// over 2 and 4 meters.
func TestHashBalance(t *testing.T) {
	keys := map[flow.Key]uint64{}
	for _, name := range []string{"skype.pcap", "tor.pcap", "dns_exfiltration.pcap", "bittorrent_ip.pcap", "facebook.pcap", "1kxun.pcap", "http_ipv6.pcap"} {
		for _, p := range packets(t, name) {
			keys[flow.MakeKey(&p.SrcIP, &p.DstIP, p.SrcPort, p.DstPort, p.VlanID, p.Protocol, p.TunnelID)] = hash(&p)
		}
	}
	for _, n := range []uint64{2, 4} {
		count := make([]int, n)
		for _, h := range keys {
			count[pick(h, n)]++
		}
		for i, c := range count {
			if share := float64(c) * float64(n) / float64(len(keys)); share < 0.8 || share > 1.2 {
				t.Errorf("%d meters: meter %d has %d of %d keys", n, i, c, len(keys))
			}
		}
	}
}

// packets decodes a corpus capture.
func packets(t testing.TB, name string) []decode.Packet {
	t.Helper()
	src, err := capture.OpenFiles([]string{testcorpus.Pcap(t, name)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var (
		rec capture.Record
		out []decode.Packet
		dec = decode.Decoder{DecodeTunnels: true}
	)
	for {
		err := src.Next(&rec)
		if err == io.EOF {
			return out
		}
		if err != nil {
			continue
		}
		var p decode.Packet
		if dec.Decode(rec.Data, rec.WireLen, rec.LinkType, &p) {
			p.TimeMs = rec.TimeMs()
			p.IP = slices.Clone(p.IP)
			out = append(out, p)
		}
	}
}

// row is what these tests compare of a flow.
type row struct {
	id, first, last, packets, bytes uint64
	srcPort, dstPort                uint16
	expiration                      int8
}

func rowOf(id uint64, f *flow.Flow) row {
	return row{id, f.BidirectionalFirstSeenMs, f.BidirectionalLastSeenMs, f.BidirectionalPackets, f.BidirectionalBytes, f.SrcPort, f.DstPort, f.ExpirationID}
}

var testCfg = flow.Config{IdleTimeoutMs: 1000, ActiveTimeoutMs: 5000}

// singleMeter meters the capture with one flow.Meter.
func singleMeter(t *testing.T, name string) []row {
	var rows []row
	m := flow.NewMeter(testCfg, func(f *flow.Flow) { rows = append(rows, rowOf(uint64(len(rows)), f)) })
	for _, p := range packets(t, name) {
		m.Process(&p)
	}
	m.Flush()
	return rows
}

func open(t *testing.T, name string) capture.Source {
	t.Helper()
	src, err := capture.OpenFiles([]string{testcorpus.Pcap(t, name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func newMeter(int) (flow.Config, func(), error) { return testCfg, nil, nil }

// TestRunBatching runs the pipeline with tiny batches and queues, where
// every hand-off blocks, and checks it against one meter.
func TestRunBatching(t *testing.T) {
	const name = "skype.pcap"
	want := singleMeter(t, name)
	for _, c := range []struct{ meters, batch, queue int }{{1, 1, 2}, {3, 1, 2}, {2, 7, 2}, {4, 100, 3}, {3, 0, 0}} {
		var got []row
		in := Input{Source: open(t, name), Decoder: decode.Decoder{DecodeTunnels: true}}
		cfg := Config{Meters: c.meters, NewMeter: newMeter, BatchPackets: c.batch, Queue: c.queue, CopyIP: c.batch == 7}
		var last Counters
		err := Run(context.Background(), in, cfg, func(f *flow.Flow) bool {
			got = append(got, rowOf(uint64(len(got)), f))
			return true
		}, func(c Counters, _ []error) { last = c })
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%+v: err %v, %d flows, one meter %d", c, err, len(got), len(want))
		}
		if last.Processed != uint64(len(packets(t, name))) || last.Records != last.Processed+last.Ignored {
			t.Errorf("%+v: counters %+v", c, last)
		}
	}
}

// TestRunStops checks that Run returns at once, leaving no goroutine
// behind, when emit says stop, and that the last progress report gives the
// counters at the packet where one meter stops.
func TestRunStops(t *testing.T) {
	const name = "skype.pcap"
	want := singleMeter(t, name)
	before := runtime.NumGoroutine()
	for _, stop := range []int{1, 10, len(want) - 1} {
		var got []row
		var last Counters
		in := Input{Source: open(t, name), Decoder: decode.Decoder{DecodeTunnels: true}}
		err := Run(context.Background(), in, Config{Meters: 3, NewMeter: newMeter, BatchPackets: 64}, func(f *flow.Flow) bool {
			got = append(got, rowOf(uint64(len(got)), f))
			return len(got) < stop
		}, func(c Counters, _ []error) { last = c })
		if err != nil || !slices.Equal(got, want[:stop]) {
			t.Errorf("stop at %d: err %v, %d flows", stop, err, len(got))
		}
		// One meter stops at the packet whose metering emitted the flow.
		var c Counters
		n := 0
		m := flow.NewMeter(testCfg, func(*flow.Flow) { n++ })
		for _, p := range packets(t, name) {
			if n >= stop {
				break
			}
			m.Process(&p)
			c.Processed++
		}
		if last.Processed != c.Processed {
			t.Errorf("stop at %d: progress says %d packets metered, one meter %d", stop, last.Processed, c.Processed)
		}
	}
	time.Sleep(10 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines before, %d after", before, after)
	}
}

// TestRunMeterError checks that a meter that cannot be set up stops the
// stream with its error.
func TestRunMeterError(t *testing.T) {
	boom := errors.New("no engine")
	in := Input{Source: open(t, "skype.pcap"), Decoder: decode.Decoder{DecodeTunnels: true}}
	cfg := Config{Meters: 3, BatchPackets: 16, NewMeter: func(i int) (flow.Config, func(), error) {
		if i == 2 {
			return flow.Config{}, nil, boom
		}
		return testCfg, nil, nil
	}}
	flows := 0
	if err := Run(context.Background(), in, cfg, func(*flow.Flow) bool { flows++; return true }, nil); !errors.Is(err, boom) || flows != 0 {
		t.Errorf("err %v after %d flows, want %v", err, flows, boom)
	}
}

// replay is a Source that plays records again and again.
type replay struct {
	recs []capture.Record
	i, n int
}

func (r *replay) Next(rec *capture.Record) error {
	if r.i == r.n {
		return io.EOF
	}
	*rec = r.recs[r.i%len(r.recs)]
	r.i++
	return nil
}

func (r *replay) Close() error { return nil }

// TestReadZeroAllocs checks that reading, decoding, dealing and metering
// packets of existing flows allocates nothing per packet once the batches
// are warm: a run of 200 times a capture allocates about as much as a run
// of 10 times it.
func TestReadZeroAllocs(t *testing.T) {
	src := open(t, "google_ssl.pcap") // 1 flow, 28 packets
	var recs []capture.Record
	for {
		var rec capture.Record
		if err := src.Next(&rec); err != nil {
			break
		}
		rec.Data = slices.Clone(rec.Data)
		recs = append(recs, rec)
	}
	run := func(n int) uint64 {
		in := Input{Source: &replay{recs: recs, n: n}, Decoder: decode.Decoder{DecodeTunnels: true}}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := Run(context.Background(), in, Config{Meters: 2, NewMeter: newMeter, BatchPackets: 64, CopyIP: true}, func(*flow.Flow) bool { return true }, nil); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.Mallocs - before.Mallocs
	}
	run(1000)
	few, many := run(10*len(recs)), run(200*len(recs))
	t.Logf("%d allocations for %d packets, %d for %d", few, 10*len(recs), many, 200*len(recs))
	if perPacket := (float64(many) - float64(few)) / float64(190*len(recs)); perPacket > 0.01 {
		t.Errorf("%d allocations for %d packets, %d for %d: %.3f per packet", few, 10*len(recs), many, 200*len(recs), perPacket)
	}
}
