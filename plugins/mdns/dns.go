package mdns

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// Errors of AnswerPTRs: the message is not DNS as dpkt reads it.
var (
	ErrTruncated = errors.New("dns: message truncated")
	ErrPointer   = errors.New("dns: invalid label compression pointer")
	ErrLabel     = errors.New("dns: invalid label length")
	ErrLongName  = errors.New("dns: name longer than 255 bytes")
	ErrUTF8      = errors.New("dns: name or text is not UTF-8")
	ErrType      = errors.New("dns: unsupported resource record type")
)

// Resource record types dpkt knows; any other makes it reject the message.
const (
	typeA     = 1
	typeNS    = 2
	typeCNAME = 5
	typeSOA   = 6
	typeNULL  = 10
	typePTR   = 12
	typeHINFO = 13
	typeMX    = 15
	typeTXT   = 16
	typeAAAA  = 28
	typeSRV   = 33
	typeOPT   = 41
)

// parser walks one message. name is scratch space for decoded names.
type parser struct {
	msg  []byte
	name []byte
}

// readName decodes the name at off into p.name (labels joined by '.', no
// trailing dot) and returns the offset after it, with dpkt's rules: a
// compression pointer must point before the labels it is found in (which
// also rules out loops), a name is at most 255 bytes, and label types 01
// and 10 are refused.
func (p *parser) readName(off int) (int, error) {
	p.name = p.name[:0]
	msg := p.msg
	start, saved, length := off, -1, 0
	for {
		if off >= len(msg) {
			return 0, ErrTruncated
		}
		n := int(msg[off])
		switch {
		case n == 0:
			off++
			if saved < 0 {
				saved = off
			}
			if !utf8.Valid(p.name) {
				return 0, ErrUTF8
			}
			return saved, nil
		case n&0xC0 == 0xC0:
			if off+2 > len(msg) {
				return 0, ErrTruncated
			}
			ptr := int(binary.BigEndian.Uint16(msg[off:]) & 0x3FFF)
			if ptr >= start {
				return 0, ErrPointer
			}
			off += 2
			if saved < 0 {
				saved = off
			}
			start, off = ptr, ptr
		case n&0xC0 == 0:
			off++
			if off+n > len(msg) {
				return 0, ErrTruncated
			}
			length += n + 1
			if length > 255 {
				return 0, ErrLongName
			}
			if len(p.name) > 0 {
				p.name = append(p.name, '.')
			}
			p.name = append(p.name, msg[off:off+n]...)
			off += n
		default:
			return 0, ErrLabel
		}
	}
}

// AnswerPTRs parses msg, a DNS message (the UDP payload), the way dpkt
// does (NFStream's MDNS plugin inherits its rules), and calls fn with the
// target name of each PTR record of the answer section, in order. The name
// passed to fn is only valid during the call.
//
// The whole message must parse for fn to be called at all: questions and
// the answer, authority and additional records, each record's data read by
// type. As in dpkt, a record of a type other than A, NS, CNAME, SOA, NULL,
// PTR, HINFO, MX, TXT, AAAA, SRV and OPT makes the message invalid, record
// data is not bounded by its declared length when it holds a name, and
// names and TXT strings must be UTF-8. Every length is checked before it
// is read; AnswerPTRs never panics.
func AnswerPTRs(msg []byte, fn func(name []byte)) error {
	var p parser
	p.msg = msg
	if len(msg) < 12 {
		return ErrTruncated
	}
	counts := [4]int{
		int(binary.BigEndian.Uint16(msg[4:])),
		int(binary.BigEndian.Uint16(msg[6:])),
		int(binary.BigEndian.Uint16(msg[8:])),
		int(binary.BigEndian.Uint16(msg[10:])),
	}
	off := 12
	var err error
	for range counts[0] {
		if off, err = p.readName(off); err != nil {
			return err
		}
		if off+4 > len(msg) {
			return ErrTruncated
		}
		off += 4
	}
	// Answers are collected as offsets first: fn runs only once the whole
	// message is known to be valid.
	var ptrs []int
	for section := 1; section < 4; section++ {
		for range counts[section] {
			if off, err = p.readName(off); err != nil {
				return err
			}
			if off+10 > len(msg) {
				return ErrTruncated
			}
			typ := binary.BigEndian.Uint16(msg[off:])
			rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
			off += 10
			rdata := msg[off:min(off+rdlen, len(msg))]
			if err := p.rdata(typ, off, rdata); err != nil {
				return err
			}
			if section == 1 && typ == typePTR {
				ptrs = append(ptrs, off)
			}
			off += rdlen
		}
	}
	for _, o := range ptrs {
		if _, err := p.readName(o); err != nil {
			return err // cannot happen: it was read above
		}
		fn(p.name)
	}
	return nil
}

// rdata checks a record's data as dpkt's unpack_rdata reads it.
func (p *parser) rdata(typ uint16, off int, rdata []byte) error {
	var err error
	switch typ {
	case typeA, typeAAAA, typeNULL, typeOPT:
	case typeNS, typeCNAME, typePTR:
		_, err = p.readName(off)
	case typeSOA:
		if off, err = p.readName(off); err != nil {
			return err
		}
		if off, err = p.readName(off); err != nil {
			return err
		}
		if off+20 > len(p.msg) {
			return ErrTruncated
		}
	case typeMX:
		if len(rdata) < 2 {
			return ErrTruncated
		}
		_, err = p.readName(off + 2)
	case typeSRV:
		if len(rdata) < 6 {
			return ErrTruncated
		}
		_, err = p.readName(off + 6)
	case typeTXT, typeHINFO:
		for len(rdata) > 0 {
			end := min(1+int(rdata[0]), len(rdata))
			if !utf8.Valid(rdata[1:end]) {
				return ErrUTF8
			}
			rdata = rdata[end:]
		}
	default:
		return ErrType
	}
	return err
}
