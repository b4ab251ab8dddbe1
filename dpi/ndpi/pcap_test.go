//go:build cgo && !nondpi

package ndpi

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"

	"github.com/nfstream-go/nfstream/dpi"
)

// This file is a deliberately tiny stand-in for the project's capture and
// decode packages (written elsewhere): classic pcap only, Ethernet (with
// 802.1Q/802.1ad tags) or raw IP, flows keyed by a plain 5-tuple, NFStream's
// default idle (120 s) and active (1800 s) timeouts checked on each packet.

type testPacket struct {
	ip     []byte // from the IP header to the end of the captured bytes
	timeMs uint64
	key    flowKey
}

type flowKey struct {
	proto  uint8
	a, b   [16]byte
	pa, pb uint16
}

// readPcap returns the IP packets of a classic pcap file; frames that are
// not IPv4/IPv6 are skipped. ok is false for link types it does not handle.
func readPcap(tb testing.TB, path string) (pkts []testPacket, ok bool) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if len(data) < 24 {
		tb.Fatalf("%s: too short for a pcap header", path)
	}
	var bo binary.ByteOrder
	nano := false
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xa1b23c4d:
		bo, nano = binary.LittleEndian, true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return nil, false // pcapng or unknown
	}
	link := bo.Uint32(data[20:])
	if link != 1 && link != 101 && link != 12 {
		return nil, false
	}
	for off, n := 24, 1; off < len(data); n++ {
		if off+16 > len(data) {
			tb.Fatalf("%s: record %d: truncated record header", path, n)
		}
		sec, frac := uint64(bo.Uint32(data[off:])), uint64(bo.Uint32(data[off+4:]))
		caplen := int(bo.Uint32(data[off+8:]))
		off += 16
		if off+caplen > len(data) {
			tb.Fatalf("%s: record %d: truncated data", path, n)
		}
		frame := data[off : off+caplen]
		off += caplen
		ms := sec*1000 + frac/1000
		if nano {
			ms = sec*1000 + frac/1000000
		}
		ip := frame
		if link == 1 {
			ip = stripEthernet(frame)
		}
		key, valid := fiveTuple(ip)
		if !valid {
			continue
		}
		pkts = append(pkts, testPacket{ip: ip, timeMs: ms, key: key})
	}
	return pkts, true
}

func stripEthernet(f []byte) []byte {
	if len(f) < 14 {
		return nil
	}
	et, off := binary.BigEndian.Uint16(f[12:]), 14
	for (et == 0x8100 || et == 0x88a8) && len(f) >= off+4 {
		et, off = binary.BigEndian.Uint16(f[off+2:]), off+4
	}
	if et != 0x0800 && et != 0x86dd {
		return nil
	}
	return f[off:]
}

// fiveTuple returns the direction-independent key of an IP packet.
func fiveTuple(ip []byte) (k flowKey, ok bool) {
	var src, dst [16]byte
	var l4 []byte
	switch {
	case len(ip) >= 20 && ip[0]>>4 == 4:
		ihl := int(ip[0]&0x0f) * 4
		if ihl < 20 || len(ip) < ihl {
			return k, false
		}
		k.proto = ip[9]
		copy(src[:], ip[12:16])
		copy(dst[:], ip[16:20])
		if binary.BigEndian.Uint16(ip[6:])&0x1fff == 0 { // first fragment
			l4 = ip[ihl:]
		}
	case len(ip) >= 40 && ip[0]>>4 == 6:
		k.proto = ip[6]
		copy(src[:], ip[8:24])
		copy(dst[:], ip[24:40])
		l4 = ip[40:]
	default:
		return k, false
	}
	var sp, dp uint16
	if (k.proto == 6 || k.proto == 17) && len(l4) >= 4 {
		sp, dp = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	}
	if string(src[:]) < string(dst[:]) || (src == dst && sp < dp) {
		k.a, k.b, k.pa, k.pb = src, dst, sp, dp
	} else {
		k.a, k.b, k.pa, k.pb = dst, src, dp, sp
	}
	return k, true
}

// testFlow is one flow of the test meter.
type testFlow struct {
	id          int
	key         flowKey
	packets     uint64
	first, last uint64
	fs          dpi.FlowState
}

// dissector is what the test meter drives: dpi.Dissector or the reference.
type dissector interface {
	start(f *testFlow, p testPacket)
	update(f *testFlow, p testPacket)
	finish(f *testFlow)
}

type realDissector struct{ d *dpi.Dissector }

func (r realDissector) start(f *testFlow, p testPacket) {
	if err := r.d.Start(&f.fs, p.ip, p.timeMs); err != nil {
		panic(err)
	}
}
func (r realDissector) update(f *testFlow, p testPacket) {
	r.d.Update(&f.fs, p.ip, p.timeMs, f.packets)
}
func (r realDissector) finish(f *testFlow) { r.d.Finish(&f.fs) }

const (
	idleMs   = 120_000
	activeMs = 1_800_000
)

// meter runs packets through flows in capture order and returns the flows
// in creation order (NFStream's ids), all finished.
func meter(pkts []testPacket, d dissector) []*testFlow {
	table := map[flowKey]*testFlow{}
	var flows []*testFlow
	for _, p := range pkts {
		f := table[p.key]
		if f != nil && (p.timeMs-f.last >= idleMs || p.timeMs-f.first >= activeMs) {
			d.finish(f)
			f = nil
		}
		if f == nil {
			f = &testFlow{id: len(flows), key: p.key, packets: 1, first: p.timeMs, last: p.timeMs}
			flows = append(flows, f)
			table[p.key] = f
			d.start(f, p)
			continue
		}
		f.packets++
		f.last = p.timeMs
		d.update(f, p)
	}
	for _, f := range flows {
		d.finish(f) // finishing an already finished flow does nothing
	}
	return flows
}

func (f *testFlow) String() string {
	return fmt.Sprintf("flow %d (%d packets)", f.id, f.packets)
}
