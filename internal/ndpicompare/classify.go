package ndpicompare

import (
	"context"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/flow"
)

// Kinds of differences (per differing cell) and reasons of unmatched flows.
// Each names its cause; the README explains them with evidence.
const (
	// KindExtraPacket: ndpiReader's limit check runs after it has counted
	// the current packet and dissects that packet before giving up, so
	// `-T N -U N` dissects up to N+1 packets of a flow where NFStream's
	// n_dissections N stops at N. Established by re-running ndpiReader
	// with N-1: that run agrees with us.
	KindExtraPacket = "ndpiReader dissects one packet more (-T/-U N dissects up to N+1 packets, n_dissections N up to N)"
	// KindNoURL: reader_util copies nDPI's HTTP user agent and content
	// type only when nDPI recorded a request URL; flows seen from the
	// response on (or guessed HTTP) keep nDPI's content type in our
	// column, not in ndpiReader's.
	KindNoURL = "ndpiReader reports HTTP user agent and content type only with a request URL"
	// KindSSHBanner: reader_util overwrites the host name of SSH flows with
	// the client banner (SSH-2.0-...); nDPI's host_server_name, which we
	// export as NFStream does, is empty for SSH.
	KindSSHBanner = "ndpiReader prints the SSH client banner in its host name column"
	// KindTunnelOurs / KindTunnelReader: we decapsulate GTP-U, TZSP and
	// CAPWAP (decode_tunnels, NFStream's default); ndpiReader does so only
	// with -t, which issue 3's command does not give, and keys the outer
	// UDP flow instead.
	KindTunnelOurs   = "tunnel decoding: inner flow of a GTP-U/TZSP/CAPWAP tunnel (ndpiReader without -t does not decapsulate)"
	KindTunnelReader = "tunnel decoding: outer GTP-U/TZSP/CAPWAP flow (we decapsulate, ndpiReader without -t does not)"
	// KindTruncated: ndpiReader skips IP packets whose header claims more
	// bytes than were captured (reader_util get_ndpi_flow_info); NFStream
	// keeps them (spec 4.8), so flows made only of such packets exist on
	// our side only.
	KindTruncated = "ndpiReader skips packets whose IP length exceeds the captured bytes (flow made only of such packets)"
	// KindTruncatedPackets: the same cause, for paired flows with fewer
	// packets on ndpiReader's side (by exactly the truncated ones).
	KindTruncatedPackets = "ndpiReader skips packets whose IP length exceeds the captured bytes"
	// KindUnclassified: no known cause; investigate.
	KindUnclassified = "unclassified"
)

// Tunnel ports ndpiReader decapsulates with -t (reader_util.c): GTP-U,
// TZSP, CAPWAP data.
var tunnelPorts = map[uint16]bool{2152: true, 37008: true, 5247: true}

// PacketStats counts, per flow, packets our decoder keeps and ndpiReader
// would skip.
type PacketStats struct {
	Packets   uint64
	Truncated uint64 // IP header says more bytes than were captured
}

// Diagnose runs our library without DPI over a capture and returns, per
// flow key, the packet statistics Classify uses to explain unmatched flows.
func Diagnose(ctx context.Context, capture string, decodeTunnels bool) (map[Key]PacketStats, error) {
	o := OurOptions(0)
	o.DecodeTunnels = decodeTunnels
	p := &truncationPlugin{open: map[*flow.Flow]*PacketStats{}, done: map[Key]PacketStats{}}
	o.Plugins = []flow.Plugin{p}
	s, err := nfstream.New([]string{capture}, o)
	if err != nil {
		return nil, err
	}
	for _, err := range s.Flows(ctx) {
		if err != nil {
			return nil, err
		}
	}
	return p.done, nil
}

type truncationPlugin struct {
	flow.BasePlugin
	open map[*flow.Flow]*PacketStats
	done map[Key]PacketStats
}

func (t *truncationPlugin) count(pkt *flow.Packet, f *flow.Flow) {
	st := t.open[f]
	if st == nil {
		st = &PacketStats{}
		t.open[f] = st
	}
	st.Packets++
	end := int(pkt.IPSize)
	if pkt.IPVersion == 6 {
		end += 40
	}
	if end > len(pkt.IP) {
		st.Truncated++
	}
}

func (t *truncationPlugin) OnInit(pkt *flow.Packet, f *flow.Flow)   { t.count(pkt, f) }
func (t *truncationPlugin) OnUpdate(pkt *flow.Packet, f *flow.Flow) { t.count(pkt, f) }
func (t *truncationPlugin) OnExpire(f *flow.Flow) {
	st := t.open[f]
	delete(t.open, f)
	if st == nil {
		return
	}
	k := (&Flow{Proto: f.Protocol, Vlan: f.VlanID,
		Src: Endpoint{AddrText(f.SrcIP), f.SrcPort}, Dst: Endpoint{AddrText(f.DstIP), f.DstPort}}).Key()
	d := t.done[k]
	d.Packets += st.Packets
	d.Truncated += st.Truncated
	t.done[k] = d
}

// Evidence is what Classify may use besides the two flow lists.
type Evidence struct {
	// Aligned are ndpiReader's flows with both limits one lower (nil if
	// not run).
	Aligned []Flow
	// Packets are Diagnose's statistics of our flows (nil if not run).
	Packets map[Key]PacketStats
	// ReaderTunnels tells whether ndpiReader ran with -t.
	ReaderTunnels bool
}

// Classify gives each difference and unmatched flow of r its kind.
func Classify(r *CaptureResult, ev Evidence) {
	aligned := map[Key]*Flow{}
	for i := range ev.Aligned {
		aligned[ev.Aligned[i].Key()] = &ev.Aligned[i]
	}
	for i := range r.Differences {
		d := &r.Differences[i]
		d.Kind = classifyDifference(d, aligned)
	}
	oursTunnels := false
	for _, p := range r.pairs {
		oursTunnels = oursTunnels || p.Ours.TunnelID != 0
	}
	for i := range r.Unmatched {
		if r.Unmatched[i].Side == "ours" && r.Unmatched[i].f.TunnelID != 0 {
			oursTunnels = true
		}
	}
	for i := range r.PacketCountDiffs {
		p := &r.PacketCountDiffs[i]
		p.Reason = KindUnclassified
		if st, ok := ev.Packets[p.Key]; ok && st.Packets == p.Ours && p.Ours-st.Truncated == p.Theirs {
			p.Reason = KindTruncatedPackets
		}
	}
	for i := range r.Unmatched {
		u := &r.Unmatched[i]
		f := u.f
		switch {
		case u.Side == "ours" && f.TunnelID != 0 && !ev.ReaderTunnels:
			u.Reason = KindTunnelOurs
		case u.Side == "ours" && ev.Packets != nil && ev.Packets[u.Key].Packets > 0 &&
			ev.Packets[u.Key].Truncated == ev.Packets[u.Key].Packets:
			u.Reason = KindTruncated
		case u.Side == "ndpireader" && !ev.ReaderTunnels && oursTunnels && f.Proto == 17 &&
			(tunnelPorts[f.Src.Port] || tunnelPorts[f.Dst.Port]):
			u.Reason = KindTunnelReader
		default:
			u.Reason = KindUnclassified
		}
	}
}

func classifyDifference(d *Difference, aligned map[Key]*Flow) string {
	c := columnIndex(d.Column)
	if a := aligned[d.Key]; a != nil && equalCell(c, d.ours.Values[c], a.Values[c]) {
		return KindExtraPacket
	}
	t := d.theirs
	switch {
	case c == ColSNI && t.ReaderSSHBanner:
		return KindSSHBanner
	case (c == ColUserAgent || c == ColContentType) && d.Theirs == "" && !t.ReaderURL &&
		is(d.ours.Master, d.ours.App, idHTTP) && !readerTLSBranch(t):
		return KindNoURL
	}
	return KindUnclassified
}

// readerTLSBranch reports whether reader_util copies the user agent through
// its TLS/QUIC branch (which does not need a URL).
func readerTLSBranch(t *Flow) bool {
	return is(t.Master, t.App, idTLS) || is(t.Master, t.App, idQUIC) || t.Values[ColJA3C] != ""
}

func columnIndex(name string) int {
	for i, n := range ColumnNames {
		if n == name {
			return i
		}
	}
	return -1
}
