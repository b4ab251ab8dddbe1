package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// pcapng: a sequence of blocks (type, total length, body, total length
// again), grouped in sections that each start with a Section Header Block
// giving the byte order of the section. Interfaces are described per section;
// packets refer to them by index.

const (
	blockSHB = 0x0a0d0d0a // Section Header Block
	blockIDB = 0x00000001 // Interface Description Block
	blockPB  = 0x00000002 // Packet Block (obsolete)
	blockSPB = 0x00000003 // Simple Packet Block
	blockEPB = 0x00000006 // Enhanced Packet Block

	byteOrderMagic = 0x1a2b3c4d

	blockMinLen = 12 // type, total length, trailer
	shbMinLen   = 28 // plus byte-order magic, versions, section length

	optEndOfOpt = 0
	optTsresol  = 9
	optTsoffset = 14

	// maxInterfaces bounds the interfaces of one section, so that a stream
	// of IDBs cannot make the interface table grow without limit.
	maxInterfaces = 1 << 16
)

// iface is what a section's Interface Description Block tells us.
type iface struct {
	link   uint16 // DLT reported for its packets
	snap   uint32 // snapshot length, adjusted as libpcap does
	units  uint64 // timestamp ticks per second (if_tsresol)
	mulNs  uint64 // if units divides 1e9: ns = frac * mulNs
	divNs  uint64 // if 1e9 divides units: ns = frac / divNs
	offset int64  // if_tsoffset, seconds added to every timestamp
}

// openPcapng reads blocks up to and including the first Interface
// Description Block, as libpcap's open does.
func (r *reader) openPcapng() error {
	r.ng = true
	// Like libpcap, a file whose first block does not carry a valid
	// byte-order magic is not pcapng at all.
	if n := r.in.fill(blockMinLen); n < blockMinLen {
		if err := r.in.readErr(); err != nil {
			return r.readError(0, 0, err)
		}
		return r.headerError(ErrNotCapture, "not a pcap or pcapng capture (%d bytes)", n)
	}
	if m := binary.LittleEndian.Uint32(r.in.buf[r.in.r+8:]); m != byteOrderMagic && m != swap32(byteOrderMagic) {
		return r.headerError(ErrNotCapture, "not a pcap or pcapng capture (pcapng byte-order magic 0x%08x)", m)
	}
	err := r.firstInterface()
	if fe, ok := err.(*FormatError); ok {
		fe.Packet = 0 // problems before the first packet are header problems
	}
	return err
}

// firstInterface reads the blocks before the first interface and that
// interface's description block.
func (r *reader) firstInterface() error {
	for first := true; ; first = false {
		typ, body, off, err := r.block()
		if err == io.EOF {
			r.done = true
			return &FormatError{Path: r.path, Offset: off, Reason: "the capture file has no Interface Description Blocks"}
		}
		if err != nil {
			return err
		}
		switch typ {
		case blockSHB:
			if err := r.section(body, off, first); err != nil {
				return err
			}
		case blockIDB:
			return r.addInterface(body, off)
		case blockEPB, blockSPB, blockPB:
			return r.fail(off, nil, "the capture file has a packet block before any Interface Description Block")
		}
	}
}

// nextPcapng delivers the next packet block, handling the section and
// interface blocks met on the way and skipping all other blocks.
func (r *reader) nextPcapng(rec *Record) error {
	for {
		typ, body, off, err := r.block()
		if err != nil {
			return err
		}
		switch typ {
		case blockEPB, blockPB, blockSPB:
			return r.packet(typ, body, off, rec)
		case blockSHB:
			err = r.section(body, off, false)
		case blockIDB:
			err = r.addInterface(body, off)
		}
		if err != nil {
			return err
		}
	}
}

// block reads one whole block into the buffer and returns its type and body
// (without the type, the lengths and the trailer). The body aliases the
// buffer until the next call. At a clean end of input it returns io.EOF.
func (r *reader) block() (typ uint32, body []byte, off int64, err error) {
	in := &r.in
	off = in.offset()
	n := in.fill(blockMinLen)
	if n < blockMinLen {
		if n == 0 && in.readErr() == nil {
			r.done = true
			return 0, nil, off, io.EOF
		}
		return 0, nil, off, r.truncated(off, "block header", blockMinLen, n)
	}
	h := in.buf[in.r : in.r+blockMinLen]
	typ = binary.LittleEndian.Uint32(h) // only compared with palindromes below until the order is known
	if typ == blockSHB {
		switch binary.LittleEndian.Uint32(h[8:]) {
		case byteOrderMagic:
			r.be = false
		case swap32(byteOrderMagic):
			r.be = true
		default:
			return 0, nil, off, r.fail(off, nil, "section header block has a bad byte-order magic 0x%08x", r.u32(h[8:]))
		}
	}
	typ = r.u32(h)
	total := r.u32(h[4:])
	switch {
	case total < blockMinLen:
		return 0, nil, off, r.fail(off, nil, "block of type %d has a length of %d < %d", typ, total, blockMinLen)
	case typ == blockSHB && total < shbMinLen:
		return 0, nil, off, r.fail(off, nil, "section header block has a length of %d < %d", total, shbMinLen)
	case total%4 != 0:
		return 0, nil, off, r.fail(off, nil, "block of type %d has a length of %d that is not a multiple of 4", typ, total)
	case total > maxBlockLen:
		return 0, nil, off, r.fail(off, nil, "block of type %d has a length of %d > maximum %d", typ, total, maxBlockLen)
	}
	size := int(total)
	if n := in.fill(size); n < size {
		return 0, nil, off, r.truncated(off, "block", size, n)
	}
	b := in.buf[in.r : in.r+size : in.r+size]
	if trailer := r.u32(b[size-4:]); trailer != total {
		return 0, nil, off, r.fail(off, nil, "block total length in header %d and trailer %d don't match", total, trailer)
	}
	in.r += size
	return typ, b[8 : size-4], off, nil
}

// section starts a new section: its byte order was set by block; its
// interfaces start afresh.
func (r *reader) section(body []byte, off int64, first bool) error {
	major, minor := r.u16(body[4:]), r.u16(body[6:])
	if major != 1 || first && minor != 0 && minor != 2 {
		return r.fail(off, nil, "unsupported pcapng savefile version %d.%d", major, minor)
	}
	r.ifaces = r.ifaces[:0]
	return nil
}

// addInterface records an Interface Description Block.
func (r *reader) addInterface(body []byte, off int64) error {
	if len(body) < 8 {
		return r.fail(off, nil, "interface description block is too short")
	}
	if len(r.ifaces) >= maxInterfaces {
		return r.fail(off, nil, "more than %d interfaces in one section", maxInterfaces)
	}
	ifc := iface{
		link:  uint16(dltFromLinkType(uint32(r.u16(body)))),
		snap:  adjustSnapLen(r.u32(body[4:])),
		units: 1_000_000,
	}
	sawRes, sawOffset := false, false
	opts := body[8:]
	for len(opts) > 0 {
		if len(opts) < 4 {
			return r.fail(off, nil, "interface description block option header cut short")
		}
		code, length := r.u16(opts), int(r.u16(opts[2:]))
		padded := (length + 3) &^ 3
		if len(opts)-4 < padded {
			return r.fail(off, nil, "interface description block option %d overruns the block", code)
		}
		val := opts[4 : 4+length]
		opts = opts[4+padded:]
		switch code {
		case optEndOfOpt:
			if length != 0 {
				return r.fail(off, nil, "interface description block has opt_endofopt option with length %d != 0", length)
			}
			opts = nil
		case optTsresol:
			if length != 1 {
				return r.fail(off, nil, "interface description block has if_tsresol option with length %d != 1", length)
			}
			if sawRes {
				return r.fail(off, nil, "interface description block has more than one if_tsresol option")
			}
			sawRes = true
			if exp := val[0] & 0x7f; val[0]&0x80 != 0 {
				if exp > 63 {
					return r.fail(off, nil, "if_tsresol resolution 2^-%d is too high", exp)
				}
				ifc.units = 1 << exp
			} else {
				if exp > 19 {
					return r.fail(off, nil, "if_tsresol resolution 10^-%d is too high", exp)
				}
				ifc.units = 1
				for range exp {
					ifc.units *= 10
				}
			}
		case optTsoffset:
			if length != 8 {
				return r.fail(off, nil, "interface description block has if_tsoffset option with length %d != 8", length)
			}
			if sawOffset {
				return r.fail(off, nil, "interface description block has more than one if_tsoffset option")
			}
			sawOffset = true
			ifc.offset = int64(r.u64(val))
		}
	}
	switch {
	case 1_000_000_000%ifc.units == 0:
		ifc.mulNs = 1_000_000_000 / ifc.units
	case ifc.units%1_000_000_000 == 0:
		ifc.divNs = ifc.units / 1_000_000_000
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

// packet delivers an EPB, SPB or PB. Data aliases the buffer.
func (r *reader) packet(typ uint32, body []byte, off int64, rec *Record) error {
	var id, caplen, wirelen uint32
	var ts uint64
	var data []byte
	switch typ {
	case blockEPB, blockPB:
		if len(body) < 20 {
			return r.fail(off, nil, "packet block of type %d is too short", typ)
		}
		if typ == blockEPB {
			id = r.u32(body)
		} else {
			id = uint32(r.u16(body))
		}
		ts = uint64(r.u32(body[4:]))<<32 | uint64(r.u32(body[8:]))
		caplen, wirelen = r.u32(body[12:]), r.u32(body[16:])
		data = body[20:]
	case blockSPB:
		if len(body) < 4 {
			return r.fail(off, nil, "simple packet block is too short")
		}
		wirelen = r.u32(body)
		caplen = wirelen
		if len(r.ifaces) > 0 {
			caplen = min(caplen, r.ifaces[0].snap)
		}
		data = body[4:]
	}
	if uint64(id) >= uint64(len(r.ifaces)) {
		return r.fail(off, nil, "a packet arrived on interface %d, but there's no interface description block for that interface", id)
	}
	ifc := &r.ifaces[id]
	if caplen > ifc.snap {
		// libpcap 1.10 refuses such a record but goes on with the next
		// block; so do we (the reader is not ended).
		r.count++
		return &FormatError{Path: r.path, Packet: r.count, Offset: off, Err: ErrOverSnapLen,
			Reason: fmt.Sprintf("invalid packet capture length %d, bigger than snaplen of %d", caplen, ifc.snap)}
	}
	if uint64(caplen) > uint64(len(data)) {
		return r.fail(off, nil, "packet block of type %d is too short for its captured length %d", typ, caplen)
	}
	r.count++
	rec.Data = data[:caplen:caplen]
	rec.WireLen = wirelen

	sec, frac := ts/ifc.units, ts%ifc.units
	var ns uint64
	switch {
	case ifc.mulNs != 0:
		ns = frac * ifc.mulNs
	case ifc.divNs != 0:
		ns = frac / ifc.divNs
	default: // a power of 2: exact 128-bit arithmetic; frac < units, so no overflow
		hi, lo := bits.Mul64(frac, 1_000_000_000)
		ns, _ = bits.Div64(hi, lo, ifc.units)
	}
	rec.Sec = sec + uint64(ifc.offset) // wraps like libpcap for negative offsets
	rec.Nsec = uint32(ns)
	rec.LinkType = ifc.link
	rec.File = r.file
	rec.Number = r.count
	return nil
}
