package dhcp

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// Errors of Parse.
var (
	ErrShort   = errors.New("dhcp: message shorter than the 240-byte fixed part")
	ErrOptions = errors.New("dhcp: option code without a length byte")
)

// fixedLen is the BOOTP header (236 bytes) plus the magic cookie.
const fixedLen = 240

// Option is one DHCP option. Value aliases the parsed message.
type Option struct {
	Code  uint8
	Value []byte
}

// Message is the part of a DHCP message the plugin reads, parsed in place.
// Its slices alias the bytes given to Parse and are valid as long as they
// are; Parse reuses Options' storage.
type Message struct {
	// HLen is the hardware address length field; CHAddr is the client
	// hardware address truncated to it (at most 16 bytes).
	HLen   uint8
	CHAddr []byte
	CIAddr [4]byte
	// Options in message order, without PAD; END ends them.
	Options []Option
}

// Parse parses b, the UDP payload of a DHCP message, with dpkt's
// conventions (which NFStream's plugin inherits): the magic cookie is not
// checked, an option value cut short by the end of the message is kept as
// far as it goes, and an option code that is the last byte of the message
// is an error (dpkt raises IndexError there). It checks every length before
// reading and never panics.
func Parse(b []byte, m *Message) error {
	m.Options = m.Options[:0]
	if len(b) < fixedLen {
		return ErrShort
	}
	m.HLen = b[2]
	copy(m.CIAddr[:], b[12:16])
	m.CHAddr = b[28 : 28+min(int(m.HLen), 16)]
	opts := b[fixedLen:]
	for len(opts) > 0 {
		code := opts[0]
		switch code {
		case 0: // PAD
			opts = opts[1:]
			continue
		case 255: // END
			return nil
		}
		if len(opts) < 2 {
			return ErrOptions
		}
		end := min(2+int(opts[1]), len(opts))
		m.Options = append(m.Options, Option{Code: code, Value: opts[2:end:end]})
		opts = opts[end:]
	}
	return nil
}

// beUint returns the big-endian unsigned integer of b, false when it does
// not fit in 64 bits. An empty b is 0, as Python's int.from_bytes gives.
func beUint(b []byte) (uint64, bool) {
	if len(b) > 8 {
		return 0, false
	}
	var buf [8]byte
	copy(buf[8-len(b):], b)
	return binary.BigEndian.Uint64(buf[:]), true
}

// decodeReplace decodes b as UTF-8 the way Python's
// bytes.decode("utf-8", "replace") does: each maximal ill-formed subpart
// becomes one U+FFFD.
func decodeReplace(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || n > 1 {
			out = append(out, b[i:i+n]...)
			i += n
			continue
		}
		out = utf8.AppendRune(out, utf8.RuneError)
		i += maximalSubpart(b[i:])
	}
	return string(out)
}

// maximalSubpart is the length of the ill-formed sequence at the start of
// b (Unicode's "maximal subpart" rule, which CPython follows).
func maximalSubpart(b []byte) int {
	lead := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF) // range of the second byte
	switch {
	case lead >= 0xC2 && lead <= 0xDF:
		need = 1
	case lead == 0xE0:
		need, lo = 2, 0xA0
	case lead == 0xED:
		need, hi = 2, 0x9F
	case lead >= 0xE1 && lead <= 0xEF:
		need = 2
	case lead == 0xF0:
		need, lo = 3, 0x90
	case lead == 0xF4:
		need, hi = 3, 0x8F
	case lead >= 0xF1 && lead <= 0xF3:
		need = 3
	default:
		return 1
	}
	n := 1
	for k := 1; k <= need && k < len(b); k++ {
		c := b[k]
		if k == 1 && (c < lo || c > hi) || k > 1 && (c < 0x80 || c > 0xBF) {
			break
		}
		n++
	}
	return n
}
