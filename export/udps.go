package export

import (
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/nfstream-go/nfstream/flow"
)

// UDPSColumns returns one column per user-defined value of f, named
// udps.<name>, in the order the values were created (behaviour spec 8.4),
// or nil when f has none. NFStream takes these columns from the first flow
// written; a later flow that lacks one of the names gets an empty field, and
// values a later flow has beyond them are not written.
func UDPSColumns(f *flow.Flow) []Column {
	if f == nil || f.UDPS == nil || f.UDPS.Len() == 0 {
		return nil
	}
	names := f.UDPS.Names()
	cols := make([]Column, len(names))
	for i, name := range names {
		name := name
		cols[i] = Column{
			Name: "udps." + name,
			Kind: UDPS,
			UDPS: func(f *flow.Flow) flow.Value {
				if f.UDPS == nil {
					return flow.Value{}
				}
				v, _ := f.UDPS.Get(name)
				return v
			},
		}
	}
	return cols
}

// WithUDPS returns cols followed by the udps columns of first (see
// UDPSColumns), before the system visibility columns if cols ends with
// them. cols itself is not modified.
func WithUDPS(cols []Column, first *flow.Flow) []Column {
	u := UDPSColumns(first)
	if len(u) == 0 {
		return cols
	}
	head, tail := cols, []Column(nil)
	if isSystemTail(cols) {
		head, tail = cols[:len(cols)-systemColumnCount], cols[len(cols)-systemColumnCount:]
	}
	out := make([]Column, 0, len(cols)+len(u))
	return append(append(append(out, head...), u...), tail...)
}

// AppendPyValue appends v as Python's str() renders the equivalent Python
// value, which is what NFStream's CSV holds (before quoting): an int in
// decimal, a float as repr() (AppendPyFloat), a string as is, a list of ints
// as "[0, 1, -1]", a list of strings as its repr "['a.local', 'b.local']".
// None appends nothing.
func AppendPyValue(b []byte, v flow.Value) []byte {
	switch v.Kind {
	case flow.KindInt:
		return strconv.AppendInt(b, v.Int, 10)
	case flow.KindFloat:
		return AppendPyFloat(b, v.Float)
	case flow.KindString:
		return append(b, v.String...)
	case flow.KindList:
		b = append(b, '[')
		for i, x := range v.List {
			if i > 0 {
				b = append(b, ',', ' ')
			}
			b = strconv.AppendInt(b, x, 10)
		}
		return append(b, ']')
	case flow.KindStrings:
		b = append(b, '[')
		for i, s := range v.Strings {
			if i > 0 {
				b = append(b, ',', ' ')
			}
			b = AppendPyRepr(b, s)
		}
		return append(b, ']')
	}
	return b
}

// AppendPyRepr appends Python's repr() of the string s: single quotes
// unless s holds a single quote and no double quote; backslash escapes for
// the quote, backslash, \t, \n, \r; \xhh, \uhhhh or \Uhhhhhhhh for
// characters that are not printable. Bytes that are not UTF-8 are shown as
// U+FFFD, as a Python decode with errors="replace" would give.
func AppendPyRepr(b []byte, s string) []byte {
	quote := byte('\'')
	if containsByte(s, '\'') && !containsByte(s, '"') {
		quote = '"'
	}
	b = append(b, quote)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == rune(quote) || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r < ' ' || r == 0x7f:
			b = appendEscape(b, 'x', uint32(r), 2)
		case r < 0x7f:
			b = append(b, byte(r))
		case unicode.IsPrint(r):
			b = utf8.AppendRune(b, r)
		case r <= 0xff:
			b = appendEscape(b, 'x', uint32(r), 2)
		case r <= 0xffff:
			b = appendEscape(b, 'u', uint32(r), 4)
		default:
			b = appendEscape(b, 'U', uint32(r), 8)
		}
	}
	return append(b, quote)
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

func appendEscape(b []byte, kind byte, v uint32, digits int) []byte {
	b = append(b, '\\', kind)
	for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(v>>uint(shift))&15])
	}
	return b
}
