// Package dhcp is NFStream's DHCP plugin (behaviour spec 11.3): the client
// fingerprinting fields of DHCP requests — host name, requested address,
// parameter request list, vendor class, option order and the client's
// hardware vendor — as udps.dhcp_* values.
//
// The values are NFStream's, with one deliberate difference (spec 13, item
// 37): where NFStream's plugin raises inside the meter and kills the run —
// a message type above 8, an option 60 or 77 that is not UTF-8, a REQUEST
// whose hardware address is not 6 bytes long — this one never fails: a
// message of unknown type is skipped entirely, and the offending value is
// left unset (None) otherwise. As in NFStream, only IPv4 UDP flows whose
// first packet went to port 67 are examined, and a flow from 0.0.0.0 is
// ended after every message it carries.
package dhcp

import (
	"fmt"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/nfstream-go/nfstream/flow"
)

// The names of the values it sets, in creation order.
const (
	HostName       = "dhcp_12"       // option 12, host name
	RequestedAddr  = "dhcp_50"       // option 50 of a REQUEST, dotted
	ParamRequest   = "dhcp_55"       // option 55 of a REQUEST, e.g. "1,3,6,42"
	MaxMessageSize = "dhcp_57"       // option 57, an integer
	VendorClass    = "dhcp_60"       // option 60
	ClientFQDN     = "dhcp_77"       // option 77 (user class)
	OptionList     = "dhcp_options"  // option codes of the REQUEST, in order
	ClientAddr     = "dhcp_addr"     // ciaddr of a REQUEST when not 0.0.0.0
	MsgTypeName    = "dhcp_msg_type" // first message type seen, e.g. "MsgType.DISCOVER"
	OUI            = "dhcp_oui"      // first 3 bytes of chaddr of a REQUEST
)

var names = [...]string{HostName, RequestedAddr, ParamRequest, MaxMessageSize, VendorClass,
	ClientFQDN, OptionList, ClientAddr, MsgTypeName, OUI}

// Message types (option 53), NFStream's MsgType enum.
const (
	Discover = 1
	Offer    = 2
	Request  = 3
	Decline  = 4
	Ack      = 5
	Nack     = 6
	Release  = 7
	Inform   = 8
)

var msgTypes = [...]string{"", "MsgType.DISCOVER", "MsgType.OFFER", "MsgType.REQUEST", "MsgType.DECLINE",
	"MsgType.ACK", "MsgType.NACK", "MsgType.RELEASE", "MsgType.INFORM"}

// DHCP is the plugin. It keeps one parse buffer, so a DHCP value must not be
// shared by several meters at once.
type DHCP struct {
	flow.BasePlugin
	msg Message
}

// OnInit creates the values (None, dhcp_options empty) and examines the
// first packet.
func (d *DHCP) OnInit(p *flow.Packet, f *flow.Flow) {
	if f.UDPS == nil {
		f.UDPS = &flow.UDPS{}
	}
	for _, n := range names {
		if n == OptionList {
			f.UDPS.Set(n, flow.List([]int64{}))
		} else {
			f.UDPS.Set(n, flow.None())
		}
	}
	d.update(p, f)
}

// OnUpdate examines the packet.
func (d *DHCP) OnUpdate(p *flow.Packet, f *flow.Flow) { d.update(p, f) }

func (d *DHCP) update(p *flow.Packet, f *flow.Flow) {
	if f.DstPort != 67 || p.IPVersion != 4 || p.Protocol != 17 {
		return
	}
	m := &d.msg
	if Parse(p.Payload(), m) != nil {
		return
	}
	// Validate first, so that a rejected message changes nothing.
	msgType := uint64(0)
	for _, o := range m.Options {
		if o.Code == 53 {
			t, ok := beUint(o.Value)
			if !ok || t < 1 || t > 8 {
				return // NFStream: ValueError from its MsgType enum
			}
			msgType = t
		}
	}
	u := f.UDPS
	var (
		codes      []int64
		params     = flow.None()
		requested  = flow.None()
		hasRequest = msgType == Request
	)
	if hasRequest {
		codes = make([]int64, 0, len(m.Options))
	}
	for _, o := range m.Options {
		if hasRequest {
			codes = append(codes, int64(o.Code))
		}
		switch o.Code {
		case 12:
			if len(o.Value) > 0 {
				u.Set(HostName, flow.String(decodeReplace(o.Value)))
			}
		case 50:
			if a, ok := beUint(o.Value); ok && a <= 0xFFFFFFFF {
				requested = flow.String(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}).String())
			}
		case 55:
			b := make([]byte, 0, 4*len(o.Value))
			for i, c := range o.Value {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendUint(b, uint64(c), 10)
			}
			params = flow.String(string(b))
		case 57:
			if n, ok := beUint(o.Value); ok && n <= 1<<63-1 {
				u.Set(MaxMessageSize, flow.Int(int64(n)))
			}
		case 60:
			if s, ok := strict(o.Value); ok {
				u.Set(VendorClass, flow.String(s))
			}
		case 77:
			if s, ok := strict(o.Value); ok {
				u.Set(ClientFQDN, flow.String(s))
			}
		}
	}
	if hasRequest {
		if m.HLen == 6 {
			u.Set(OUI, flow.String(fmt.Sprintf("%02x:%02x:%02x", m.CHAddr[0], m.CHAddr[1], m.CHAddr[2])))
		}
		u.Set(OptionList, flow.List(codes))
		u.Set(ParamRequest, params)
		u.Set(RequestedAddr, requested)
		if m.CIAddr != [4]byte{} {
			u.Set(ClientAddr, flow.String(netip.AddrFrom4(m.CIAddr).String()))
		}
	}
	switch msgType {
	case Ack, Nack, Inform, Decline:
		f.ExpirationID = flow.ExpirationCustom
	}
	if f.SrcIP == netip.AddrFrom4([4]byte{}) {
		f.ExpirationID = flow.ExpirationCustom
	}
	if v, _ := u.Get(MsgTypeName); v.Kind == flow.KindNone {
		if msgType == 0 {
			u.Set(MsgTypeName, flow.Int(0))
		} else {
			u.Set(MsgTypeName, flow.String(msgTypes[msgType]))
		}
	}
}

// strict decodes b as UTF-8, refusing invalid bytes (NFStream raises).
func strict(b []byte) (string, bool) {
	if !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

// Clone returns an instance with the same parameters and no state, for
// another meter (flow.Cloner).
func (d *DHCP) Clone() flow.Plugin { return &DHCP{} }
