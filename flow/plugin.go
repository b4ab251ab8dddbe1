package flow

import (
	"net/netip"

	"github.com/nfstream-go/nfstream/decode"
)

// Plugin is NFStream's NFPlugin: user code that adds features to flows.
//
// A meter calls the hooks from its own goroutine, in the order plugins were
// given, always after its native features were updated for the same packet
// (behaviour spec, section 8.2):
//
//   - OnInit with the first packet of a new flow;
//   - OnUpdate with every later packet of the flow;
//   - OnExpire once when the flow ends, whatever the reason, with every
//     native field final (ExpirationID included);
//   - Cleanup once at the end of the stream, also when it is cancelled
//     (NFStream never calls its cleanup).
//
// A plugin stores its values in f.UDPS, which become udps.<name> columns. It
// can end a flow right after the current packet by setting f.ExpirationID to
// ExpirationCustom in OnInit or OnUpdate.
//
// Parameters are ordinary struct fields. Each meter needs its own instance;
// a plugin with state shared across flows must not be given to several
// meters at once. To run with several meters (n_meters > 1) a plugin
// implements Cloner.
type Plugin interface {
	OnInit(pkt *Packet, f *Flow)
	OnUpdate(pkt *Packet, f *Flow)
	OnExpire(f *Flow)
	Cleanup()
}

// Cloner is implemented by plugins that can run with several meters. A
// sharded pipeline gives the plugin value the caller configured to its
// first meter and a Clone to each other meter, so that each meter calls its
// own instance from its own goroutine (as NFStream copies a plugin into
// every meter process). Cleanup is called on every instance.
//
// Clone returns an instance with the same parameters and the state of a
// plugin that has seen no flow yet; it is called before the stream starts,
// from the goroutine that starts it. A plugin whose hooks keep no state and
// are safe to call concurrently may return itself.
//
// Streams with several meters refuse plugins that are not Cloners (an
// explicit n_meters > 1 is an error; the automatic choice falls back to one
// meter).
type Cloner interface {
	Clone() Plugin
}

// BasePlugin has no-op hooks; embed it to implement only the hooks you need.
type BasePlugin struct{}

func (BasePlugin) OnInit(*Packet, *Flow)   {}
func (BasePlugin) OnUpdate(*Packet, *Flow) {}
func (BasePlugin) OnExpire(*Flow)          {}
func (BasePlugin) Cleanup()                {}

// Packet is the view of a packet handed to plugins: NFStream's NFPacket.
// The meter reuses one Packet for every call; a plugin must not keep it or
// its IP bytes after the hook returns.
type Packet struct {
	*decode.Packet
	// Direction is 0 for src→dst, 1 for dst→src (always 0 in OnInit).
	Direction uint8
	// DeltaTimeMs is the time since the previous packet of the flow in
	// either direction; 0 for the first packet.
	DeltaTimeMs uint64
}

// SrcAddr is the packet's own source address.
func (p *Packet) SrcAddr() netip.Addr { return addrOf(&p.SrcIP, p.IPVersion) }

// DstAddr is the packet's own destination address.
func (p *Packet) DstAddr() netip.Addr { return addrOf(&p.DstIP, p.IPVersion) }

// Has reports whether the TCP flag bit (decode.FlagSYN, ...) is set.
func (p *Packet) Has(flag uint8) bool { return p.TCPFlags&flag != 0 }

// ipEnd is where the IP packet ends according to its header (link padding
// excluded), which may be past the captured bytes.
func (p *Packet) ipEnd() int {
	if p.IPVersion == 6 {
		return 40 + int(p.IPSize)
	}
	return int(p.IPSize)
}

// Transport returns the captured bytes of the transport header and its
// payload, bounded by the IP header's length, for TCP, UDP, ICMP and ICMPv6
// (NFStream's transport_size); nil for other protocols, for truncated TCP
// and UDP headers, and when nothing of it was captured. Like IP it aliases the capture buffer and
// is valid only during the hook; it never allocates.
func (p *Packet) Transport() []byte {
	end := p.ipEnd()
	return clip(p.IP, end-int(p.TransportSize), end)
}

// Payload returns the captured bytes of the transport payload: TCP data,
// the UDP payload, or ICMP/ICMPv6 after 8 bytes (NFStream's payload_size),
// or nil. Like IP it aliases the capture buffer and is valid only during
// the hook; it never allocates.
func (p *Packet) Payload() []byte {
	end := p.ipEnd()
	return clip(p.IP, end-int(p.PayloadSize), end)
}

// clip returns b[start:end] limited to the bytes b holds, or nil when that
// is empty.
func clip(b []byte, start, end int) []byte {
	if end > len(b) {
		end = len(b)
	}
	if start < 0 || start >= end {
		return nil
	}
	return b[start:end:end]
}
