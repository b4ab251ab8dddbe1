package export

import (
	"net/netip"

	"github.com/nfstream-go/nfstream/dpi"
	"github.com/nfstream-go/nfstream/flow"
)

// testSchema has every column group.
var testSchema = Schema{DecodeTunnels: true, Statistical: true, SPLT: true, DPI: true}

// testFlows returns three synthetic flows whose strings need escaping in
// every format: quotes, commas, a newline, non-ASCII text.
func testFlows() []*flow.Flow {
	dist := func(xs ...uint64) flow.Dist {
		var d flow.Dist
		for _, x := range xs {
			d.Add(x)
		}
		return d
	}
	f0 := &flow.Flow{
		ID: 0, ExpirationID: 0,
		SrcIP: netip.MustParseAddr("10.0.0.1"), DstIP: netip.MustParseAddr("93.184.216.34"),
		SrcMAC: flow.MAC{0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c}, DstMAC: flow.MAC{0xf4, 0xf2, 0x6d, 1, 2, 3},
		SrcPort: 51234, DstPort: 443, Protocol: 6, IPVersion: 4,
		BidirectionalFirstSeenMs: 1700000000000, BidirectionalLastSeenMs: 1700000000250,
		BidirectionalPackets: 3, BidirectionalBytes: 1612,
		Src2DstLastSeenMs: 1700000000250, Src2DstPackets: 2, Src2DstBytes: 112,
		Dst2SrcFirstSeenMs: 1700000000100, Dst2SrcLastSeenMs: 1700000000100, Dst2SrcPackets: 1, Dst2SrcBytes: 1500,
		Stats: &flow.Stats{
			Bidirectional: flow.DirStats{PS: dist(60, 1500, 52), PIAT: dist(100, 150), Flags: [8]uint64{1, 0, 0, 0, 2, 1, 0, 0}},
			Src2Dst:       flow.DirStats{PS: dist(60, 52), PIAT: dist(250), Flags: [8]uint64{1, 0, 0, 0, 1, 0, 0, 0}},
			Dst2Src:       flow.DirStats{PS: dist(1500), Flags: [8]uint64{0, 0, 0, 0, 1, 1, 0, 0}},
		},
		SPLT: &flow.SPLT{Direction: []int8{0, 1, 0, -1}, PS: []int32{60, 1500, 52, -1}, PIATMs: []int64{0, 100, 150, -1}},
		DPI: &dpi.FlowState{Info: dpi.Info{
			ApplicationName: "TLS.Google", ApplicationCategoryName: "Web", ApplicationConfidence: 6,
			RequestedServerName: `say "hi", ok`,
			ClientFingerprint:   "bfcc1a3891601edb4f137ab7ab25b840",
			UserAgent:           "Mozilla/5.0\n(X11; Linux)",
			ContentType:         `text/html; charset="utf-8"`,
		}},
	}
	f1 := &flow.Flow{
		ID: 1, ExpirationID: 1,
		SrcIP: netip.MustParseAddr("2001:db8::1"), DstIP: netip.MustParseAddr("::ffff:1.2.3.4"),
		SrcMAC: flow.MAC{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, DstMAC: flow.MAC{1, 2, 3, 4, 5, 6},
		SrcPort: 5353, DstPort: 53, Protocol: 17, IPVersion: 6, VlanID: 42, TunnelID: 1,
		BidirectionalFirstSeenMs: 1700000001000, BidirectionalLastSeenMs: 1700000001000,
		BidirectionalPackets: 1, BidirectionalBytes: 90,
		Src2DstLastSeenMs: 1700000001000, Src2DstPackets: 1, Src2DstBytes: 90,
		Stats: &flow.Stats{
			Bidirectional: flow.DirStats{PS: dist(90)},
			Src2Dst:       flow.DirStats{PS: dist(90)},
		},
		SPLT: &flow.SPLT{Direction: []int8{0, -1, -1, -1}, PS: []int32{90, -1, -1, -1}, PIATMs: []int64{0, -1, -1, -1}},
		DPI: &dpi.FlowState{Info: dpi.Info{
			ApplicationName: "DNS", ApplicationCategoryName: "Network", ApplicationIsGuessed: 1, ApplicationConfidence: 1,
			RequestedServerName: "café.example ☕",
			ServerFingerprint:   `back\slash`,
		}},
	}
	f2 := &flow.Flow{
		ID: 2, ExpirationID: -1,
		SrcIP: netip.MustParseAddr("10.0.0.1"), DstIP: netip.MustParseAddr("10.0.0.2"),
		SrcPort: 0, DstPort: 0, Protocol: 1, IPVersion: 4,
		BidirectionalFirstSeenMs: 1700000002000, BidirectionalLastSeenMs: 1700000002010,
		BidirectionalPackets: 2, BidirectionalBytes: 196,
		Src2DstLastSeenMs: 1700000002000, Src2DstPackets: 1, Src2DstBytes: 98,
		Dst2SrcFirstSeenMs: 1700000002010, Dst2SrcLastSeenMs: 1700000002010, Dst2SrcPackets: 1, Dst2SrcBytes: 98,
		Stats: &flow.Stats{
			Bidirectional: flow.DirStats{PS: dist(98, 98), PIAT: dist(10)},
			Src2Dst:       flow.DirStats{PS: dist(98)},
			Dst2Src:       flow.DirStats{PS: dist(98)},
		},
		SPLT: &flow.SPLT{Direction: []int8{0, 1, -1, -1}, PS: []int32{98, 98, -1, -1}, PIATMs: []int64{0, 10, -1, -1}},
		DPI:  &dpi.FlowState{Info: dpi.Info{ApplicationName: "ICMP", ApplicationCategoryName: "Network", ApplicationConfidence: 6}},
	}
	return []*flow.Flow{f0, f1, f2}
}

// withUDPS adds plugin values to the flows: an int, a float, a string, a
// list, a list of strings, and a value only the second flow has.
func withUDPS(fs []*flow.Flow) []*flow.Flow {
	for i, f := range fs {
		u := &flow.UDPS{}
		u.Set("count", flow.Int(int64(10*i)))
		u.Set("ratio", flow.Float(float64(i)/4))
		u.Set("label", flow.String([]string{`a "b"`, "c,d", ""}[i%3]))
		u.Set("sizes", flow.List([]int64{int64(i), -1}))
		u.Set("names", flow.Strings([]string{"x.local", "it's"}[:i%3]))
		if i == 1 {
			u.Set("late", flow.Int(7))
		}
		f.UDPS = u
	}
	return fs
}
