package kafka

import (
	"math"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
)

// render appends the flow as one JSON object, byte for byte the line the
// JSON Lines export (export.FormatJSONL) writes for it, without the final
// newline: keys are the column names in column order, floats as Python's
// repr (NaN and ±Inf as null), lists as arrays, a udps None as null.
// TestRenderMatchesJSONL holds the two renderings together.
type renderer struct {
	cols []export.Column
	keys [][]byte
	raw  []byte
	list []int64
}

func newRenderer(cols []export.Column) *renderer {
	r := &renderer{cols: cols, keys: make([][]byte, len(cols))}
	for i, c := range cols {
		k := []byte{','}
		if i == 0 {
			k[0] = '{'
		}
		k = appendString(k, c.Name)
		r.keys[i] = append(k, ':')
	}
	return r
}

func (r *renderer) append(b []byte, f *flow.Flow) []byte {
	for i := range r.cols {
		c := &r.cols[i]
		b = append(b, r.keys[i]...)
		switch c.Kind {
		case export.Int:
			b = strconv.AppendInt(b, c.Int(f), 10)
		case export.Float:
			b = appendFloat(b, c.Float(f))
		case export.String:
			r.raw = c.String(r.raw[:0], f)
			b = appendString(b, string(r.raw))
		case export.List:
			r.list = c.List(r.list[:0], f)
			b = appendInts(b, r.list)
		case export.UDPS:
			b = appendValue(b, c.UDPS(f))
		default:
			b = append(b, "null"...)
		}
	}
	if len(r.cols) == 0 {
		b = append(b, '{')
	}
	return append(b, '}')
}

func appendFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return export.AppendPyFloat(b, v)
}

func appendInts(b []byte, list []int64) []byte {
	b = append(b, '[')
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return append(b, ']')
}

func appendValue(b []byte, v flow.Value) []byte {
	switch v.Kind {
	case flow.KindInt:
		return strconv.AppendInt(b, v.Int, 10)
	case flow.KindFloat:
		return appendFloat(b, v.Float)
	case flow.KindString:
		return appendString(b, v.String)
	case flow.KindList:
		return appendInts(b, v.List)
	case flow.KindStrings:
		b = append(b, '[')
		for i, s := range v.Strings {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']')
	}
	return append(b, "null"...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as the JSON Lines
// export does: quotes, backslashes, control characters, U+2028 and U+2029;
// invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&15])
			i += n
			start = i
			continue
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

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
