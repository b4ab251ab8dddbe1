package ndpicompare

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/dpi"
)

// nDPI 4.2 protocol ids used to tell which fingerprint our client and server
// fingerprint columns hold (NFStream's branches, spec 7.4).
const (
	idHTTP      = 7
	idDHCP      = 18
	idMailPOPS  = 23
	idMailSMTPS = 29
	idDTLS      = 30
	idMailIMAPS = 51
	idTLS       = 91
	idSSH       = 92
	idQUIC      = 188
)

func is(master, app, id uint16) bool { return master == id || app == id }

func isSSH(master, app uint16) bool { return is(master, app, idSSH) }

// NoSplit is the idle and active timeout used for our side: far longer than
// any capture of the corpus, so that no flow is split (ndpiReader never
// expires flows of a capture file).
const NoSplit = 1e6 * time.Second

// OurOptions returns the library options of the comparison: defaults, one
// meter, n_dissections nd, timeouts that never split a flow.
func OurOptions(nd int) nfstream.Options {
	o := nfstream.DefaultOptions()
	o.NMeters = 1
	o.NDissections = nd
	o.IdleTimeout = NoSplit
	o.ActiveTimeout = NoSplit
	return o
}

// RunOurs runs the library on one capture and returns its flows with the
// compared columns, mapped onto ndpiReader's terms: the client fingerprint
// is a JA3, a hassh or a DHCP fingerprint depending on the protocol branch.
func RunOurs(ctx context.Context, capture string, opts nfstream.Options) ([]Flow, error) {
	s, err := nfstream.New([]string{capture}, opts)
	if err != nil {
		return nil, err
	}
	if err := s.DPIUnavailable(); err != nil {
		return nil, err
	}
	var flows []Flow
	for f, err := range s.Flows(ctx) {
		if err != nil {
			return nil, err
		}
		if f.DPI == nil {
			return nil, fmt.Errorf("flow %d has no DPI state", f.ID)
		}
		flows = append(flows, fromOurs(f))
	}
	return flows, nil
}

// AddrText renders an address as ndpiReader prints it (inet_ntop, then
// ndpi_patchIPv6Address for IPv6).
func AddrText(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	return PatchIPv6(a.String())
}

func fromOurs(f *nfstream.Flow) Flow {
	info := &f.DPI.Info
	p := f.DPI.Detected()
	out := Flow{
		Proto:    f.Protocol,
		Vlan:     f.VlanID,
		Src:      Endpoint{Addr: AddrText(f.SrcIP), Port: f.SrcPort},
		Dst:      Endpoint{Addr: AddrText(f.DstIP), Port: f.DstPort},
		TunnelID: f.TunnelID,
		Master:   p.Master,
		App:      p.App,
		Guessed:  info.ApplicationIsGuessed != 0,
		Packets:  f.BidirectionalPackets,
		ID:       f.ID,
	}
	out.Confidence = ourConfidence(info)
	out.Values[ColName] = info.ApplicationName
	out.Values[ColCategory] = info.ApplicationCategoryName
	out.Values[ColSNI] = info.RequestedServerName
	switch branch(p) {
	case idDHCP:
		out.Values[ColDHCPFingerprint] = info.ClientFingerprint
	case idSSH:
		out.Values[ColHasshC] = info.ClientFingerprint
		out.Values[ColHasshS] = info.ServerFingerprint
	case idTLS:
		out.Values[ColJA3C] = info.ClientFingerprint
		out.Values[ColJA3S] = info.ServerFingerprint
	}
	out.Values[ColUserAgent] = info.UserAgent
	out.Values[ColContentType] = info.ContentType
	out.Values[ColConfidence] = fmt.Sprint(info.ApplicationConfidence)
	return out
}

// branch is NFStream's first matching information branch (spec 7.4): DHCP,
// HTTP, SSH, then the TLS family (reported as idTLS); 0 for none.
func branch(p dpi.Protocol) uint16 {
	m, a := p.Master, p.App
	switch {
	case is(m, a, idDHCP):
		return idDHCP
	case is(m, a, idHTTP):
		return idHTTP
	case is(m, a, idSSH):
		return idSSH
	case is(m, a, idTLS), is(m, a, idDTLS), is(m, a, idMailSMTPS), is(m, a, idMailIMAPS),
		is(m, a, idMailPOPS), is(m, a, idQUIC):
		return idTLS
	}
	return 0
}

// ourConfidence names our confidence as ndpiReader does (nDPI 4.2's names),
// as far as NFStream's numbering allows: 1 is both port and IP matches.
func ourConfidence(info *dpi.Info) string {
	switch info.ApplicationConfidence {
	case 0:
		return "Unknown"
	case 1:
		return "Match by port or IP"
	case 5:
		return "DPI (cache)"
	case 6:
		return "DPI"
	}
	return fmt.Sprint(info.ApplicationConfidence)
}
