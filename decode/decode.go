// Package decode turns captured frames into the packet summaries the flow
// meter works on, following NFStream's decoding rules exactly (behaviour spec,
// section 4), quirks included: link layers, VLAN/MPLS/PPPoE, IPv4 and IPv6
// with extension headers, fragments, always-on IP-in-IP, and, when enabled,
// GTP-U, TZSP and CAPWAP tunnels.
//
// decode knows headers, never files: it sees one record's bytes, its wire
// length and its data-link type.
package decode

import "encoding/binary"

// LinkTypeSupported reports whether the decoder understands the data-link
// type (a libpcap DLT_ value). Records of other link types are not decoded
// (counted as ignored, as in NFStream).
func LinkTypeSupported(linkType uint16) bool {
	switch linkType {
	case DLTNull, DLTEthernet, DLTPPP, DLTRaw, DLTPPPSerial, DLTCHDLC, DLTLinuxSLL, DLTRadiotap, DLTIPv4, DLTIPv6, dltRawLinktype:
		return true
	}
	return false
}

// Data-link types understood by the decoder (libpcap DLT_ values).
const (
	DLTNull         = 0
	DLTEthernet     = 1
	DLTPPP          = 9
	DLTRaw          = 12
	DLTPPPSerial    = 50
	DLTCHDLC        = 104
	DLTLinuxSLL     = 113
	DLTRadiotap     = 127
	DLTIPv4         = 228
	DLTIPv6         = 229
	dltRawLinktype  = 101 // LINKTYPE_RAW as stored in files; libpcap reports 12
	minRecordLength = 28  // minimal IPv4 + UDP, checked at every link offset
)

// Tunnel ids, as in NFStream's tunnel_id column.
const (
	TunnelNone   = 0
	TunnelGTP    = 1
	TunnelCAPWAP = 2
	TunnelTZSP   = 3
)

// TCP flag bits as found in byte 13 of the TCP header.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagURG = 0x20
	FlagECE = 0x40
	FlagCWR = 0x80
)

// Packet is the decoded summary of one frame. The decoder overwrites every
// field on each call; a Packet is meant to be reused.
type Packet struct {
	// TimeMs is the packet time in milliseconds. Decode does not touch it:
	// the caller sets it from the record, the meter clamps it.
	TimeMs uint64
	// SrcIP and DstIP hold the addresses of the innermost decoded IP header:
	// IPv4 in the first 4 bytes (the rest zero), IPv6 in all 16.
	SrcIP, DstIP [16]byte
	SrcMAC       [6]byte
	DstMAC       [6]byte
	SrcPort      uint16
	DstPort      uint16
	VlanID       uint16
	IPVersion    uint8
	Protocol     uint8
	TunnelID     uint8
	// TCPFlags is byte 13 of the TCP header; 0 for other protocols.
	TCPFlags uint8
	// The four sizes of NFStream's accounting modes 0 to 3.
	RawSize       uint16
	IPSize        uint16
	TransportSize uint16
	PayloadSize   uint16
	// IP is the captured bytes from the (inner) IP header to the end of the
	// record, link-layer padding included: what nDPI and plugins receive. It
	// aliases the record's buffer and is valid as long as that buffer is.
	IP []byte
}

// Decoder decodes frames. Its zero value decodes without tunnel
// decapsulation; it holds no state between calls and may be copied. A
// Decoder is not safe for concurrent use only because Decode writes into the
// caller's Packet.
type Decoder struct {
	// DecodeTunnels enables GTP-U, TZSP and CAPWAP decapsulation (NFStream's
	// decode_tunnels). IP-in-IP is always decapsulated.
	DecodeTunnels bool
}

func be16(b []byte, i int) uint16 { return binary.BigEndian.Uint16(b[i:]) }
func le16(b []byte, i int) uint16 { return binary.LittleEndian.Uint16(b[i:]) }

// at reads byte i, or 0 when i is past the captured bytes. NFStream reads
// such bytes from whatever memory follows the record (spec 13.1); we read
// zeros.
func at(b []byte, i int) byte {
	if i < 0 || i >= len(b) {
		return 0
	}
	return b[i]
}

func at16(b []byte, i int) uint16 { return uint16(at(b, i))<<8 | uint16(at(b, i+1)) }

// stage of the decoding state machine (spec 4.3 to 4.7).
type stage uint8

const (
	stageLink stage = iota
	stageEtherType
	stageIP
	stageTransport
)

// Decode decodes one frame of the given data-link type. data is the captured
// bytes (caplen = len(data)) and wireLen the frame's original length. It
// reports whether the frame is usable; false means NFStream would ignore it
// (spec 4.8). p.TimeMs is left untouched; every other field is overwritten.
func (d Decoder) Decode(data []byte, wireLen uint32, linkType uint16, p *Packet) bool {
	caplen := len(data)
	var (
		l, o       int    // link offset, IP offset
		t          uint16 // ether-type
		f          uint16 // IPv4 fragment word
		proto      uint8  // IP protocol as seen by the tunnel step
		ipLen      int    // header length (v4) or remaining length (v6)
		e          uint16 // 802.3 length
		w          int    // 802.11 header length
		version    uint8
		vlan       uint16
		tunnel     uint8
		srcMAC     [6]byte
		dstMAC     [6]byte
		tzspRounds int
	)
	st := stageLink
	for {
		switch st {
		case stageLink:
			if caplen < l+minRecordLength {
				return false
			}
			switch linkType {
			case DLTNull:
				if data[l] == 0 && data[l+1] == 0 && data[l+2] == 0 && data[l+3] == 2 {
					t = 0x0800
				} else {
					t = 0x86DD
				}
				o = l + 4
			case DLTPPPSerial:
				t = be16(data, l+2)
				o = l + 4
			case DLTPPP, DLTCHDLC:
				if data[0] == 0x0F || data[0] == 0x8F {
					t = be16(data, l+2)
					o = l + 4
				} else {
					t = be16(data, l)
					o = l + 2
				}
			case DLTIPv4:
				t, o = 0x0800, l
			case DLTIPv6:
				t, o = 0x86DD, l
			case DLTEthernet:
				copy(dstMAC[:], data[l:l+6])
				copy(srcMAC[:], data[l+6:l+12])
				o = l + 14
				x := be16(data, l+12)
				if x <= 1500 {
					e = x
				} else if x >= 1536 {
					t = x
				}
				if e != 0 {
					if data[o] == 0xAA || data[o+1] == 0xAA {
						t = le16(data, o+6) // [LE-read] quirk: SNAP IPv4 gives 0x0008
						o += 8
					} else if data[o] == 0x42 || data[o+1] == 0x42 {
						return false // spanning tree
					}
				}
			case DLTLinuxSLL:
				t = be16(data, l+14)
				o = l + 16
			case DLTRadiotap:
				r := int(le16(data, l+2))
				if data[l+16]&0x50 == 0x50 {
					return false // FCS present and bad
				}
				if caplen < l+r+24 {
					return false
				}
				fc := le16(data, l+r)
				if (fc>>2)&3 != 2 {
					return false // not a data frame
				}
				toDS, fromDS := fc&0x0100 != 0, fc&0x0200 != 0
				if toDS != fromDS {
					w = 26
				}
				copy(srcMAC[:], data[l+r+10:l+r+16])
				copy(dstMAC[:], data[l+r+16:l+r+22])
				if caplen < l+w+r+8 {
					return false
				}
				if data[l+w+r] == 0xAA {
					t = be16(data, l+w+r+6)
				}
				o = l + w + r + 8
			case DLTRaw, dltRawLinktype:
				o = l
				if caplen > l {
					switch data[l] >> 4 {
					case 4:
						t = 0x0800
					case 6:
						t = 0x86DD
					}
				}
			default:
				return false
			}
			st = stageEtherType

		case stageEtherType:
			switch t {
			case 0x8100:
				if o+4 >= caplen {
					return false
				}
				vlan = be16(data, o) & 0x0FFF
				t = be16(data, o+2)
				o += 4
				for t == 0x8100 && o+4 < caplen {
					vlan = be16(data, o) & 0x0FFF
					t = be16(data, o+2)
					o += 4
				}
			case 0x8847, 0x8848:
				if o+4 >= caplen {
					return false
				}
				label := binary.BigEndian.Uint32(data[o:])
				t = 0x0800
				o += 4
				for label&0x100 == 0 && o+4 < caplen {
					label = binary.BigEndian.Uint32(data[o:])
					o += 4
				}
			case 0x8864:
				t = 0x0800
				o += 8
			default:
				st = stageIP
			}

		case stageIP:
			if caplen < o+20 {
				return false
			}
			if t == 0x0800 {
				f = be16(data, o+6)
				proto = data[o+9]
			}
			version = data[o] >> 4
			switch version {
			case 4:
				h := 4 * int(data[o]&0x0F)
				if next := data[o+9]; next == 4 || next == 41 {
					o += h
					if h > 0 {
						continue // IP-in-IP / 6in4: decode the inner header
					}
				}
				if f&0x1FFF != 0 {
					return false // non-first fragment
				}
				ipLen = h
			case 6:
				if caplen < o+40 {
					return false
				}
				proto = data[o+6]
				pl := int(be16(data, o+4))
				if caplen < o+40+pl {
					return false
				}
				pos, rem, next, ok := walkExtensions(data, caplen-o-40, o+40, pl, proto)
				if !ok {
					return false
				}
				proto = next
				if next == 4 || next == 41 {
					o = pos
					continue // 4in6 / 6in6
				}
				ipLen = rem
			default:
				return false
			}
			st = stageTransport
			if !d.DecodeTunnels || proto != 17 {
				break
			}
			// Step D: tunnels. For IPv6, x is not the UDP header (quirk 9).
			x := o + ipLen
			if caplen < x+8 {
				return false
			}
			sport, dport := be16(data, x), be16(data, x+2)
			switch {
			case (sport == 2152 || dport == 2152) && x+16 < caplen:
				g := x + 8
				flags, msgType := data[g], data[g+1]
				if flags>>5 != 1 || msgType != 0xFF {
					break
				}
				g += 8
				if flags&0x07 != 0 {
					g += 4
				}
				extError := false
				if flags&0x04 != 0 {
					for g < caplen {
						n := 4 * int(data[g])
						g += n
						if g >= caplen || n == 0 {
							extError = true
							break
						}
						if data[g-1] == 0 {
							break
						}
					}
				}
				if extError || g >= caplen {
					break
				}
				tunnel = TunnelGTP
				o = g
				switch data[g] >> 4 {
				case 6:
					if caplen < g+40 {
						return false
					}
					version = 6
				case 4:
					if caplen < g+20 {
						return false
					}
					version = 4
				default:
					return false
				}
			case sport == 37008 || dport == 37008:
				if caplen < x+12 {
					return false
				}
				z := x + 8
				tunnel = TunnelTZSP
				if data[z] != 1 || data[z+1] != 0 || be16(data, z+2) != 1 {
					break
				}
				z += 4
				if z >= caplen {
					break
				}
				step := 1
				if tag := data[z]; tag != 0 && tag != 1 {
					if z+1 >= caplen {
						return false
					}
					step = int(data[z+1])
				}
				z += step
				if z >= caplen {
					return false
				}
				// Nested TZSP always moves forward, so this ends; the bound
				// only guards against pathological captures.
				if tzspRounds++; tzspRounds > 64 {
					return false
				}
				l = z
				st = stageLink
			case sport == 5247 || dport == 5247:
				z := x + 8
				if z+1 >= caplen || data[z]&0x0F != 0 {
					break
				}
				z += int(data[z+1]&0xF8) >> 1
				if z+32 >= caplen {
					break
				}
				copy(srcMAC[:], data[z+10:z+16])
				copy(dstMAC[:], data[z+16:z+22])
				z += 24
				t = be16(data, z+6)
				o = z + 8
				tunnel = TunnelCAPWAP
				st = stageIP
			}

		case stageTransport:
			return d.finish(data, wireLen, o, version, vlan, tunnel, &srcMAC, &dstMAC, p)
		}
	}
}

// walkExtensions walks IPv6 extension headers (spec 4.5 C3) starting at pos
// with the given byte budget, remaining payload length and next header. It
// returns the position and remaining length after them and the final next
// header.
func walkExtensions(data []byte, budget, pos, rem int, next uint8) (int, int, uint8, bool) {
	for budget > 1 {
		switch next {
		case 59:
			return 0, 0, 0, false
		case 44:
			if rem < 8 || budget < 5 || pos+4 > len(data) {
				return 0, 0, 0, false
			}
			budget -= 5
			next = data[pos]
			if be16(data, pos+2)>>3 != 0 {
				return 0, 0, 0, false // non-first fragment
			}
			rem -= 8
			pos += 8
		case 0, 43, 60, 135:
			if rem < 2 || pos+2 > len(data) {
				return 0, 0, 0, false
			}
			hl := 8*int(data[pos+1]) + 8
			if hl > budget {
				return 0, 0, 0, false
			}
			budget -= hl
			if rem < hl {
				return 0, 0, 0, false
			}
			next = data[pos]
			rem -= hl
			pos += hl
		default:
			return pos, rem, next, true
		}
	}
	return pos, rem, next, true
}

// finish is step E (spec 4.7): the final IP and transport parse.
func (d Decoder) finish(data []byte, wireLen uint32, o int, version uint8, vlan uint16, tunnel uint8, srcMAC, dstMAC *[6]byte, p *Packet) bool {
	s := (len(data) - o) & 0xFFFF
	var (
		proto        uint8
		l4len, l4off int
		ipSize       uint16
	)
	ip := data[o:]
	switch version {
	case 4:
		ihl := 4 * int(ip[0]&0x0F)
		tl := int(be16(ip, 2))
		if s < 20 || ihl > s || tl < ihl {
			return false
		}
		l4len, l4off = tl-ihl, ihl
		proto = ip[9]
		ipSize = uint16(tl)
		p.SrcIP = [16]byte{}
		p.DstIP = [16]byte{}
		copy(p.SrcIP[:4], ip[12:16])
		copy(p.DstIP[:4], ip[16:20])
	case 6:
		if s < 40 {
			return false
		}
		pl := int(be16(ip, 4))
		if s < 40+pl {
			return false
		}
		pos, rem, next, ok := walkExtensions(ip[:s], s-40, 40, pl, ip[6])
		if !ok || pos > s {
			return false
		}
		proto, l4len, l4off = next, rem, pos
		ipSize = uint16(pl)
		copy(p.SrcIP[:], ip[8:24])
		copy(p.DstIP[:], ip[24:40])
	default:
		return false
	}
	ip = ip[:s]
	var sport, dport, tsize, psize uint16
	var flags uint8
	switch {
	case proto == 6 && l4len >= 20:
		sport, dport = at16(ip, l4off), at16(ip, l4off+2)
		flags = at(ip, l4off+13)
		tsize = uint16(l4len)
		if hl := 4 * int(at(ip, l4off+12)>>4); l4len > hl {
			psize = uint16(l4len - hl)
		}
	case proto == 17 && l4len >= 8:
		sport, dport = at16(ip, l4off), at16(ip, l4off+2)
		tsize = uint16(l4len)
		if l4len > 8 {
			psize = uint16(l4len - 8)
		}
	case proto == 1 || proto == 58:
		tsize = uint16(l4len)
		if l4len > 8 {
			psize = uint16(l4len - 8)
		}
	}
	p.SrcMAC, p.DstMAC = *srcMAC, *dstMAC
	p.SrcPort, p.DstPort = sport, dport
	p.VlanID = vlan
	p.IPVersion = version
	p.Protocol = proto
	p.TunnelID = tunnel
	p.TCPFlags = flags
	p.RawSize = uint16(wireLen)
	p.IPSize = ipSize
	p.TransportSize = tsize
	p.PayloadSize = psize
	p.IP = ip
	return true
}
