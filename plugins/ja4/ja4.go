// Package ja4 is a JA4 plugin: the TLS client fingerprint of the JA4
// specification (FoxIO, BSD 3-Clause) as udps.ja4, with its raw
// (udps.ja4_r), original-order (udps.ja4_o) and raw original-order
// (udps.ja4_ro) renderings.
//
// It is deliberately not NFStream's JA4 plugin (behaviour spec 11.5, 13
// item 38), whose output is not JA4: NFStream always writes 't', reads only
// IPv4, only the first packet after the TCP handshake, drops GREASE values
// wrongly and also exports a "ja4s" column. This plugin follows the
// specification:
//
//   - TLS over TCP, over IPv4 and IPv6, with the ClientHello reassembled
//     from several segments (in order or not, retransmissions ignored) and
//     found wherever a segment starts one, so that TLS after a SOCKS or HTTP
//     CONNECT exchange or a STARTTLS command is fingerprinted too;
//   - QUIC versions 1 and 2, drafts 22 to 32 and mvfst's draft versions: the
//     client's Initial packets are decrypted (RFC 9001 section 5, RFC 9369)
//     to reach the ClientHello in their CRYPTO frames, which may be split
//     across frames, packets and datagrams and arrive in any order;
//   - DTLS over UDP, with fragmented ClientHellos reassembled.
//
// On the JA4 project's reference captures it gives the reference value for
// every stream but one, whose first ALPN protocol (0xba 0xad) is neither a
// letter nor a digit: the reference implementations predate the
// specification's rule for that case and write "99", this plugin writes
// "bd" as the specification says (first and last hex digits). ja4_o's last
// part is twelve zeros exactly when ja4's is, as in the reference output.
//
// The first ClientHello of a flow, in either direction, is fingerprinted;
// the values are None (empty fields) for flows without one, and for SSL 2.0
// compatible ClientHellos, which are not read. Only the first MaxPackets
// packets of a flow are examined.
//
// The other JA4+ methods (JA4S, JA4H, ...) are under the FoxIO License 1.1,
// which restricts monetisation; they are not implemented here.
package ja4

import (
	"encoding/binary"

	"github.com/nfstream-go/nfstream/flow"
)

// The names of the values it sets, in creation order.
const (
	Name        = "ja4"
	Raw         = "ja4_r"
	Original    = "ja4_o"
	RawOriginal = "ja4_ro"
)

// DefaultMaxPackets is the default of JA4.MaxPackets.
const DefaultMaxPackets = 32

// JA4 is the plugin. It keeps per-flow reassembly state between the hooks
// of a flow and scratch buffers, so a JA4 value must not be shared by
// several meters at once. Flows without TLS cost a map lookup per packet
// for their first MaxPackets packets, nothing afterwards.
type JA4 struct {
	flow.BasePlugin
	// MaxPackets is how many packets of each flow are examined for a
	// ClientHello; 0 means DefaultMaxPackets.
	MaxPackets int

	flows   map[*flow.Flow]*state
	scratch []byte
	hs      []byte
}

// state is one flow's search for its ClientHello.
type state struct {
	transport Transport
	dir       uint8  // direction of the packets being reassembled (TCP)
	started   bool   // a ClientHello is being reassembled
	anchor    uint32 // TCP sequence number of the first byte of asm
	asm       assembler
	keys      *initialKeys // QUIC
}

func (j *JA4) max() uint64 {
	if j.MaxPackets > 0 {
		return uint64(j.MaxPackets)
	}
	return DefaultMaxPackets
}

// OnInit creates the four values (None) and examines the first packet.
func (j *JA4) OnInit(p *flow.Packet, f *flow.Flow) {
	if f.UDPS == nil {
		f.UDPS = &flow.UDPS{}
	}
	for _, n := range [...]string{Name, Raw, Original, RawOriginal} {
		f.UDPS.Set(n, flow.None())
	}
	if f.Protocol != 6 && f.Protocol != 17 {
		return
	}
	if j.flows == nil {
		j.flows = make(map[*flow.Flow]*state)
	}
	st := &state{}
	j.flows[f] = st
	j.examine(st, p, f)
}

// OnUpdate examines the packet while the flow has no fingerprint and has
// at most MaxPackets packets.
func (j *JA4) OnUpdate(p *flow.Packet, f *flow.Flow) {
	c := f.BidirectionalPackets
	if c > j.max() {
		if c == j.max()+1 {
			delete(j.flows, f)
		}
		return
	}
	if st := j.flows[f]; st != nil {
		j.examine(st, p, f)
	}
}

// OnExpire forgets the flow.
func (j *JA4) OnExpire(f *flow.Flow) { delete(j.flows, f) }

// Cleanup forgets every flow.
func (j *JA4) Cleanup() { j.flows = nil }

func (j *JA4) done(f *flow.Flow, fp Fingerprint) {
	f.UDPS.Set(Name, flow.String(fp.JA4))
	f.UDPS.Set(Raw, flow.String(fp.Raw))
	f.UDPS.Set(Original, flow.String(fp.Original))
	f.UDPS.Set(RawOriginal, flow.String(fp.RawOriginal))
	delete(j.flows, f)
}

func (j *JA4) examine(st *state, p *flow.Packet, f *flow.Flow) {
	payload := p.Payload()
	if len(payload) == 0 {
		return
	}
	switch p.Protocol {
	case 6:
		tr := p.Transport()
		if len(tr) < 8 {
			return
		}
		j.tcp(st, p.Direction, binary.BigEndian.Uint32(tr[4:8]), payload, f)
	case 17:
		if payload[0]&0x80 != 0 {
			j.quic(st, payload, f)
		} else if payload[0] == 22 {
			j.dtls(st, payload, f)
		}
	}
}

// startsClientHello reports whether a TCP segment's data begins with a TLS
// handshake record holding (the start of) a ClientHello.
func startsClientHello(b []byte) bool {
	return len(b) >= 6 && b[0] == 22 && b[1] == 3 && b[2] <= 4 && b[5] == 1
}

// maxRecord bounds a TLS record's length (2^14 plus expansion).
const maxRecord = 1<<14 + 2048

func (j *JA4) tcp(st *state, dir uint8, seq uint32, payload []byte, f *flow.Flow) {
	if !st.started || dir != st.dir {
		if st.started || !startsClientHello(payload) {
			return
		}
		st.started, st.dir, st.anchor, st.transport = true, dir, seq, TCP
		st.asm.reset()
	}
	if !st.asm.add(int(int32(seq-st.anchor)), payload) {
		st.started = false
		return
	}
	// Concatenate the handshake records' bodies held so far.
	stream := st.asm.prefix()
	hs := j.hs[:0]
	other := false // a record that is not a handshake follows
	for len(stream) >= 5 {
		n := int(binary.BigEndian.Uint16(stream[3:5]))
		if stream[0] != 22 || n > maxRecord {
			other = true
			break
		}
		body := stream[5:min(5+n, len(stream))]
		hs = append(hs, body...)
		stream = stream[5+len(body):]
		if len(body) < n {
			break
		}
	}
	j.hs = hs
	j.finish(st, hs, false, f)
	if other && j.flows[f] != nil {
		st.started = false // the hello cannot complete: look again
	}
}

// finish fingerprints the handshake message stream hs once it holds the
// whole ClientHello, and gives up on anything else.
func (j *JA4) finish(st *state, hs []byte, dtls bool, f *flow.Flow) {
	hdr := 4
	if dtls {
		hdr = 12
	}
	if len(hs) < 4 {
		return
	}
	if hs[0] != 1 {
		st.started = false
		return
	}
	n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
	if hdr+n > maxStream {
		st.started = false
		return
	}
	if len(hs) < hdr+n {
		return // more to come
	}
	h, err := ParseClientHello(hs, dtls)
	if err != nil {
		st.started = false
		return
	}
	j.done(f, h.Fingerprint(st.transport))
}

func (j *JA4) quic(st *state, datagram []byte, f *flow.Flow) {
	for len(datagram) > 0 {
		h, ok := parseLongHeader(datagram)
		if !ok {
			return
		}
		pkt := datagram[:h.end]
		datagram = datagram[h.end:]
		if !h.initial {
			continue
		}
		// The client's later Initials keep the keys of its first one,
		// whatever DCID they carry; a new DCID gets its own keys (after a
		// Retry, or for the first Initial seen).
		var plain []byte
		if st.keys != nil && st.keys.version == h.version {
			plain, ok = j.open(st.keys, pkt, h)
		} else {
			ok = false
		}
		if !ok && (st.keys == nil || string(st.keys.dcid) != string(h.dcid)) {
			k, err := newInitialKeys(h.version, h.dcid)
			if err != nil {
				return
			}
			if plain, ok = j.open(k, pkt, h); ok {
				st.keys = k
			}
		}
		if !ok {
			continue // a server Initial, or damaged
		}
		j.crypto(st, plain, f)
		if j.flows[f] == nil {
			return // fingerprinted, or given up
		}
	}
}

func (j *JA4) open(k *initialKeys, pkt []byte, h longHeader) ([]byte, bool) {
	plain, scratch, err := k.openInitial(pkt, h, j.scratch)
	j.scratch = scratch
	return plain, err == nil
}

// crypto adds an Initial packet's CRYPTO frames to the flow's stream.
func (j *JA4) crypto(st *state, plain []byte, f *flow.Flow) {
	if !st.started {
		st.started, st.transport = true, QUIC
		st.asm.reset()
	}
	full := false
	cryptoFrames(plain, func(off uint64, data []byte) {
		if off > maxStream || !st.asm.add(int(off), data) {
			full = true
		}
	})
	if full {
		delete(j.flows, f)
		return
	}
	j.finish(st, st.asm.prefix(), false, f)
	if !st.started {
		delete(j.flows, f) // not a ClientHello: give up on this flow
	}
}

// dtls handles the DTLS records of a datagram: handshake fragments of the
// first ClientHello are reassembled.
func (j *JA4) dtls(st *state, b []byte, f *flow.Flow) {
	for len(b) >= 13 {
		typ, ver := b[0], binary.BigEndian.Uint16(b[1:3])
		n := int(binary.BigEndian.Uint16(b[11:13]))
		if 13+n > len(b) || ver < 0xfefc || ver == 0xfefe {
			return
		}
		rec := b[13 : 13+n]
		b = b[13+n:]
		if typ != 22 || len(rec) < 12 || rec[0] != 1 {
			continue
		}
		length := int(rec[1])<<16 | int(rec[2])<<8 | int(rec[3])
		fragOff := int(rec[6])<<16 | int(rec[7])<<8 | int(rec[8])
		fragLen := int(rec[9])<<16 | int(rec[10])<<8 | int(rec[11])
		if 12+fragLen > len(rec) || fragOff+fragLen > length {
			continue
		}
		if !st.started {
			st.started, st.transport = true, DTLS
			st.asm.reset()
			// The message header, as if unfragmented, then the body.
			hdr := [12]byte{1, rec[1], rec[2], rec[3], rec[4], rec[5], 0, 0, 0, rec[1], rec[2], rec[3]}
			st.asm.add(0, hdr[:])
		}
		if !st.asm.add(12+fragOff, rec[12:12+fragLen]) {
			delete(j.flows, f)
			return
		}
		j.finish(st, st.asm.prefix(), true, f)
		if j.flows[f] == nil {
			return
		}
	}
}

// Clone returns an instance with the same parameters and no state, for
// another meter (flow.Cloner).
func (j *JA4) Clone() flow.Plugin { return &JA4{MaxPackets: j.MaxPackets} }
