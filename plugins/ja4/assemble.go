package ja4

// maxStream bounds the bytes reassembled per flow: a ClientHello is far
// smaller in practice (a few KiB with post-quantum key shares).
const maxStream = 64 << 10

// span is a half-open byte range [lo, hi).
type span struct{ lo, hi int }

// assembler rebuilds a byte stream from pieces at known offsets (TCP
// segments relative to the first one, QUIC CRYPTO frames, DTLS fragments),
// in any order and with overlaps. The first copy of a byte wins.
type assembler struct {
	buf  []byte
	have []span // sorted, disjoint, not adjacent
}

func (a *assembler) reset() {
	a.buf = a.buf[:0]
	a.have = a.have[:0]
}

// add stores data at offset off. It reports false when the piece lies
// beyond maxStream (nothing is stored then).
func (a *assembler) add(off int, data []byte) bool {
	if off < 0 {
		if -off >= len(data) {
			return true
		}
		data, off = data[-off:], 0
	}
	end := off + len(data)
	if len(data) == 0 {
		return true
	}
	if end > maxStream {
		return false
	}
	if end > len(a.buf) {
		a.buf = append(a.buf, make([]byte, end-len(a.buf))...)
	}
	// Copy only into the holes, so that the first copy of a byte wins.
	pos := off
	for _, s := range a.have {
		if s.hi <= pos {
			continue
		}
		if s.lo >= end {
			break
		}
		if s.lo > pos {
			copy(a.buf[pos:s.lo], data[pos-off:])
		}
		pos = max(pos, s.hi)
		if pos >= end {
			break
		}
	}
	if pos < end {
		copy(a.buf[pos:end], data[pos-off:])
	}
	a.mark(off, end)
	return true
}

// mark records [lo, hi) as held, merging spans.
func (a *assembler) mark(lo, hi int) {
	out := a.have[:0:0]
	placed := false
	for _, s := range a.have {
		switch {
		case s.hi < lo:
			out = append(out, s)
		case s.lo > hi:
			if !placed {
				out = append(out, span{lo, hi})
				placed = true
			}
			out = append(out, s)
		default: // overlapping or adjacent
			lo, hi = min(lo, s.lo), max(hi, s.hi)
		}
	}
	if !placed {
		out = append(out, span{lo, hi})
	}
	a.have = out
}

// prefix returns the contiguous bytes from offset 0. It aliases the
// assembler's buffer until the next add or reset.
func (a *assembler) prefix() []byte {
	if len(a.have) == 0 || a.have[0].lo != 0 {
		return nil
	}
	return a.buf[:a.have[0].hi]
}
