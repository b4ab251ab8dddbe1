// Package mdns is NFStream's MDNS plugin (behaviour spec 11.4): the service
// and host names a device announces over multicast DNS, as the list
// udps.mdns_ptr.
//
// As in NFStream, only IPv4 UDP flows whose first packet went to port 5353
// are examined, and a packet that is not a DNS message as dpkt reads it is
// skipped (see AnswerPTRs). Where NFStream's plugin would raise on such
// input (names that are not UTF-8, short records), this one skips the
// packet too: it never fails.
package mdns

import (
	"slices"
	"strings"

	"github.com/nfstream-go/nfstream/flow"
)

// PTR is the name of the value it sets: the PTR targets of the answers, in
// order of first appearance, without duplicates, with every ',' replaced by
// a space.
const PTR = "mdns_ptr"

// MDNS is the plugin. It keeps no state between flows; one value may serve
// several meters at once.
type MDNS struct {
	flow.BasePlugin
}

// OnInit creates udps.mdns_ptr (an empty list) and examines the first
// packet.
func (m *MDNS) OnInit(p *flow.Packet, f *flow.Flow) {
	if f.UDPS == nil {
		f.UDPS = &flow.UDPS{}
	}
	f.UDPS.Set(PTR, flow.Strings([]string{}))
	m.update(p, f)
}

// OnUpdate examines the packet.
func (m *MDNS) OnUpdate(p *flow.Packet, f *flow.Flow) { m.update(p, f) }

func (m *MDNS) update(p *flow.Packet, f *flow.Flow) {
	if f.DstPort != 5353 || p.IPVersion != 4 || p.Protocol != 17 {
		return
	}
	v, _ := f.UDPS.Get(PTR)
	list := v.Strings
	changed := false
	err := AnswerPTRs(p.Payload(), func(name []byte) {
		s := strings.ReplaceAll(string(name), ",", " ")
		if !slices.Contains(list, s) {
			list = append(list, s)
			changed = true
		}
	})
	if err == nil && changed {
		f.UDPS.Set(PTR, flow.Strings(list))
	}
}

// Clone returns an instance with the same parameters and no state, for
// another meter (flow.Cloner).
func (m *MDNS) Clone() flow.Plugin { return &MDNS{} }
