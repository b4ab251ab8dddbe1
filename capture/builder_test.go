package capture

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// Builders of capture files for tests: every special file (byte orders,
// resolutions, damage) is generated here rather than stored.

// pcapFile builds a classic pcap file.
type pcapFile struct {
	order  binary.AppendByteOrder
	magic  uint32
	major  uint16
	minor  uint16
	snap   uint32
	link   uint32
	extra  int // bytes after the 16-byte record header (8 for the modified format)
	buf    []byte
	header bool
}

func newPcap(order binary.AppendByteOrder, magic, snap, link uint32) *pcapFile {
	p := &pcapFile{order: order, magic: magic, major: 2, minor: 4, snap: snap, link: link}
	if magic == magicModified {
		p.extra = 8
	}
	return p
}

func (p *pcapFile) writeHeader() {
	if p.header {
		return
	}
	p.header = true
	o := p.order
	b := o.AppendUint32(nil, p.magic)
	b = o.AppendUint16(b, p.major)
	b = o.AppendUint16(b, p.minor)
	b = o.AppendUint32(b, 0) // thiszone
	b = o.AppendUint32(b, 0) // sigfigs
	b = o.AppendUint32(b, p.snap)
	b = o.AppendUint32(b, p.link)
	p.buf = append(b, p.buf...)
}

// rec appends a record whose captured bytes are data (caplen = len(data)).
func (p *pcapFile) rec(sec, frac, wire uint32, data []byte) *pcapFile {
	return p.recLens(sec, frac, uint32(len(data)), wire, data)
}

// recLens appends a record with explicit header lengths.
func (p *pcapFile) recLens(sec, frac, caplen, wire uint32, data []byte) *pcapFile {
	p.writeHeader()
	o := p.order
	p.buf = o.AppendUint32(p.buf, sec)
	p.buf = o.AppendUint32(p.buf, frac)
	p.buf = o.AppendUint32(p.buf, caplen)
	p.buf = o.AppendUint32(p.buf, wire)
	p.buf = append(p.buf, make([]byte, p.extra)...)
	p.buf = append(p.buf, data...)
	return p
}

func (p *pcapFile) bytes() []byte {
	p.writeHeader()
	return p.buf
}

// ngFile builds a pcapng file block by block; each section has its own
// byte order.
type ngFile struct {
	order binary.AppendByteOrder
	buf   []byte
}

// ngOpt is one option of a block.
type ngOpt struct {
	code uint16
	val  []byte
}

func (w *ngFile) block(typ uint32, body []byte) *ngFile {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	total := uint32(12 + len(body))
	w.buf = w.order.AppendUint32(w.buf, typ)
	w.buf = w.order.AppendUint32(w.buf, total)
	w.buf = append(w.buf, body...)
	w.buf = w.order.AppendUint32(w.buf, total)
	return w
}

func (w *ngFile) options(b []byte, opts []ngOpt) []byte {
	if len(opts) == 0 {
		return b
	}
	for _, o := range opts {
		b = w.order.AppendUint16(b, o.code)
		b = w.order.AppendUint16(b, uint16(len(o.val)))
		b = append(b, o.val...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return append(b, 0, 0, 0, 0) // opt_endofopt
}

// shb starts a section in the given byte order.
func (w *ngFile) shb(order binary.AppendByteOrder, opts ...ngOpt) *ngFile {
	w.order = order
	b := order.AppendUint32(nil, byteOrderMagic)
	b = order.AppendUint16(b, 1)
	b = order.AppendUint16(b, 0)
	b = order.AppendUint64(b, ^uint64(0)) // section length unknown
	return w.block(blockSHB, w.options(b, opts))
}

func (w *ngFile) idb(link uint16, snap uint32, opts ...ngOpt) *ngFile {
	b := w.order.AppendUint16(nil, link)
	b = w.order.AppendUint16(b, 0)
	b = w.order.AppendUint32(b, snap)
	return w.block(blockIDB, w.options(b, opts))
}

func (w *ngFile) epb(id uint32, ts uint64, wire uint32, data []byte, opts ...ngOpt) *ngFile {
	return w.epbLens(id, ts, uint32(len(data)), wire, data, opts...)
}

func (w *ngFile) epbLens(id uint32, ts uint64, caplen, wire uint32, data []byte, opts ...ngOpt) *ngFile {
	b := w.order.AppendUint32(nil, id)
	b = w.order.AppendUint32(b, uint32(ts>>32))
	b = w.order.AppendUint32(b, uint32(ts))
	b = w.order.AppendUint32(b, caplen)
	b = w.order.AppendUint32(b, wire)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return w.block(blockEPB, w.options(b, opts))
}

func (w *ngFile) pb(id uint16, ts uint64, wire uint32, data []byte) *ngFile {
	b := w.order.AppendUint16(nil, id)
	b = w.order.AppendUint16(b, 0) // drops
	b = w.order.AppendUint32(b, uint32(ts>>32))
	b = w.order.AppendUint32(b, uint32(ts))
	b = w.order.AppendUint32(b, uint32(len(data)))
	b = w.order.AppendUint32(b, wire)
	return w.block(blockPB, append(b, data...))
}

func (w *ngFile) spb(wire uint32, data []byte) *ngFile {
	b := w.order.AppendUint32(nil, wire)
	return w.block(blockSPB, append(b, data...))
}

// tsresol and tsoffset build the IDB options.
func tsresol(v byte) ngOpt { return ngOpt{optTsresol, []byte{v}} }

func tsoffset(order binary.AppendByteOrder, sec int64) ngOpt {
	return ngOpt{optTsoffset, order.AppendUint64(nil, uint64(sec))}
}

// frame returns n bytes 0, 1, 2, ... (mod 256) starting at first.
func frame(first byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// writeTemp writes data to a file in the test's temporary directory.
func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	le = binary.LittleEndian
	be = binary.BigEndian
)
