package export

import (
	"math"
	"net/netip"
	"strconv"
)

// AppendPyFloat appends f as Python's repr() writes it (what NFStream's
// CSV contains): the shortest round-trip digits, always with a decimal point
// or an exponent, scientific notation when the decimal exponent is below -4
// or at least 16, and "nan", "inf", "-inf".
func AppendPyFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "nan"...)
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 { // integral: "3.0", "-0.0"
		if f == 0 && math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(strconv.AppendInt(b, int64(f), 10), '.', '0')
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64) // [-]d[.ddd]e±XX
	neg := e[0] == '-'
	if neg {
		e = e[1:]
		b = append(b, '-')
	}
	var digits [24]byte
	nd := 0
	i := 0
	for ; e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits[nd] = e[i]
			nd++
		}
	}
	exp := 0 // value = d.ddd × 10^exp
	for _, c := range e[i+2:] {
		exp = exp*10 + int(c-'0')
	}
	if e[i+1] == '-' {
		exp = -exp
	}
	if exp < -4 || exp >= 16 {
		b = append(b, digits[0])
		if nd > 1 {
			b = append(b, '.')
			b = append(b, digits[1:nd]...)
		}
		b = append(b, 'e')
		if exp < 0 {
			b = append(b, '-')
			exp = -exp
		} else {
			b = append(b, '+')
		}
		if exp < 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, int64(exp), 10)
	}
	if exp < 0 {
		b = append(b, '0', '.')
		for range -exp - 1 {
			b = append(b, '0')
		}
		return append(b, digits[:nd]...)
	}
	intDigits := exp + 1
	for k := range intDigits {
		if k < nd {
			b = append(b, digits[k])
		} else {
			b = append(b, '0')
		}
	}
	b = append(b, '.')
	if nd > intDigits {
		return append(b, digits[intDigits:nd]...)
	}
	return append(b, '0')
}

// AppendIP appends an address as NFStream prints it: dotted decimal for
// IPv4 and glibc's inet_ntop form for IPv6, which differs from Go's for
// IPv4-compatible (::a.b.c.d) and IPv4-mapped addresses.
func AppendIP(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		return a.AppendTo(b)
	}
	s := a.As16()
	var g [8]uint16
	for i := range g {
		g[i] = uint16(s[2*i])<<8 | uint16(s[2*i+1])
	}
	// Longest run of at least two zero groups, the first one on ties.
	best, bestLen := -1, 0
	for i := 0; i < 8; {
		if g[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && g[j] == 0 {
			j++
		}
		if j-i > bestLen && j-i >= 2 {
			best, bestLen = i, j-i
		}
		i = j
	}
	dotted := func(b []byte) []byte {
		b = strconv.AppendUint(b, uint64(s[12]), 10)
		for _, x := range s[13:16] {
			b = append(b, '.')
			b = strconv.AppendUint(b, uint64(x), 10)
		}
		return b
	}
	if best == 0 && (bestLen == 6 || (bestLen == 5 && g[5] == 0xffff)) {
		b = append(b, "::"...)
		if bestLen == 5 {
			b = append(b, "ffff:"...)
		}
		return dotted(b)
	}
	for i := 0; i < 8; i++ {
		if i == best {
			b = append(b, "::"...)
			i += bestLen - 1
			continue
		}
		if i > 0 && i != best+bestLen {
			b = append(b, ':')
		}
		b = strconv.AppendUint(b, uint64(g[i]), 16)
	}
	return b
}
