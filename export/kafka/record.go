package kafka

import (
	"net/netip"
	"strconv"

	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
)

// AppendKey appends the flow's key: the same text for both directions of
// a flow, so that a flow's records (an active-timeout flow gives several)
// go to one partition and keep their order there. It is
// "protocol|lowIP|lowPort|highIP|highPort|vlan|tunnel", the endpoints
// ordered by address then port.
func AppendKey(b []byte, f *flow.Flow) []byte {
	a, ap, z, zp := f.SrcIP, f.SrcPort, f.DstIP, f.DstPort
	if c := a.Compare(z); c > 0 || c == 0 && ap > zp {
		a, ap, z, zp = z, zp, a, ap
	}
	b = strconv.AppendUint(b, uint64(f.Protocol), 10)
	b = appendEnd(b, a, ap)
	b = appendEnd(b, z, zp)
	b = append(b, '|')
	b = strconv.AppendUint(b, uint64(f.VlanID), 10)
	b = append(b, '|')
	return strconv.AppendUint(b, uint64(f.TunnelID), 10)
}

func appendEnd(b []byte, ip netip.Addr, port uint16) []byte {
	b = append(b, '|')
	b = export.AppendIP(b, ip)
	b = append(b, '|')
	return strconv.AppendUint(b, uint64(port), 10)
}
