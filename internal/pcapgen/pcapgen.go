// Package pcapgen builds small synthetic captures for tests and the demo:
// frames assembled layer by layer with correct lengths and checksums, written
// as classic pcap. Output is byte-stable for the same calls.
package pcapgen

import (
	"encoding/binary"
	"io"
	"net/netip"
)

// Writer writes a classic little-endian pcap with microsecond (or
// nanosecond) timestamps.
type Writer struct {
	w    io.Writer
	nano bool
	err  error
}

// NewWriter writes the file header for the given link type.
func NewWriter(w io.Writer, linkType uint32, nano bool) *Writer {
	hdr := make([]byte, 24)
	magic := uint32(0xa1b2c3d4)
	if nano {
		magic = 0xa1b23c4d
	}
	binary.LittleEndian.PutUint32(hdr[0:], magic)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], linkType)
	pw := &Writer{w: w, nano: nano}
	_, pw.err = w.Write(hdr)
	return pw
}

// WritePacket appends one record; timeUs is microseconds since the epoch
// (nanoseconds for a nanosecond file). wireLen 0 means len(data).
func (p *Writer) WritePacket(timeUs uint64, data []byte, wireLen int) error {
	if p.err != nil {
		return p.err
	}
	if wireLen == 0 {
		wireLen = len(data)
	}
	div := uint64(1_000_000)
	if p.nano {
		div = 1_000_000_000
	}
	rh := make([]byte, 16)
	binary.LittleEndian.PutUint32(rh[0:], uint32(timeUs/div))
	binary.LittleEndian.PutUint32(rh[4:], uint32(timeUs%div))
	binary.LittleEndian.PutUint32(rh[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(rh[12:], uint32(wireLen))
	if _, p.err = p.w.Write(rh); p.err == nil {
		_, p.err = p.w.Write(data)
	}
	return p.err
}

// Ethernet prepends an Ethernet II header.
func Ethernet(src, dst [6]byte, etherType uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload)+4)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:], etherType)
	b = append(b, payload...)
	for len(b) < 60 { // minimum frame size: padding, as on the wire
		b = append(b, 0)
	}
	return b
}

// VLAN returns an 802.1Q tag followed by payload (to be given to Ethernet
// with ether-type 0x8100).
func VLAN(id uint16, etherType uint16, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload))
	binary.BigEndian.PutUint16(b[0:], id&0x0FFF)
	binary.BigEndian.PutUint16(b[2:], etherType)
	return append(b, payload...)
}

func checksum(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xFFFF + sum>>16
	}
	return ^uint16(sum)
}

// IP builds an IPv4 or IPv6 packet (by the addresses' family) around a
// transport segment of the given protocol. The transport checksum of TCP,
// UDP and ICMPv6 is filled in.
func IP(src, dst netip.Addr, proto uint8, segment []byte) []byte {
	seg := append([]byte(nil), segment...)
	var pseudo uint32
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		pseudo = checksum(checksum(0, s[:]), d[:]) + uint32(proto) + uint32(len(seg))
	} else {
		s, d := src.As16(), dst.As16()
		pseudo = checksum(checksum(0, s[:]), d[:]) + uint32(len(seg)) + uint32(proto)
	}
	switch {
	case proto == 6 && len(seg) >= 20:
		binary.BigEndian.PutUint16(seg[16:], fold(checksum(pseudo, seg)))
	case proto == 17 && len(seg) >= 8:
		binary.BigEndian.PutUint16(seg[6:], fold(checksum(pseudo, seg)))
	case proto == 58 && len(seg) >= 4:
		binary.BigEndian.PutUint16(seg[2:], fold(checksum(pseudo, seg)))
	case proto == 1 && len(seg) >= 4:
		binary.BigEndian.PutUint16(seg[2:], fold(checksum(0, seg)))
	}
	if src.Is4() {
		h := make([]byte, 20, 20+len(seg))
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(seg)))
		h[6] = 0x40 // don't fragment
		h[8] = 64
		h[9] = proto
		s, d := src.As4(), dst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		binary.BigEndian.PutUint16(h[10:], fold(checksum(0, h)))
		return append(h, seg...)
	}
	h := make([]byte, 40, 40+len(seg))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(seg)))
	h[6] = proto
	h[7] = 64
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, seg...)
}

// UDP builds a UDP datagram (checksum filled by IP).
func UDP(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

// TCP flag bits.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
)

// TCP builds a TCP segment with a 20-byte header (checksum filled by IP).
func TCP(sport, dport uint16, seq, ack uint32, flags uint8, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12] = 5 << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], 65535)
	return append(b, payload...)
}

// ICMPEcho builds an ICMP (v4) echo request (typ 8) or reply (typ 0).
func ICMPEcho(typ uint8, id, seq uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	return append(b, payload...)
}

// DNSQuery builds a DNS query (or, with answer set, a response carrying one
// A record) for name.
func DNSQuery(id uint16, name string, answer netip.Addr) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], id)
	flags := uint16(0x0100)
	if answer.IsValid() {
		flags = 0x8180
		binary.BigEndian.PutUint16(b[6:], 1)
	}
	binary.BigEndian.PutUint16(b[2:], flags)
	binary.BigEndian.PutUint16(b[4:], 1)
	q := []byte{}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			q = append(q, byte(i-start))
			q = append(q, name[start:i]...)
			start = i + 1
		}
	}
	q = append(q, 0, 0, 1, 0, 1)
	b = append(b, q...)
	if answer.IsValid() {
		a := answer.As4()
		b = append(b, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4)
		b = append(b, a[:]...)
	}
	return b
}
