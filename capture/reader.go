package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// MaxSnapLen is libpcap's largest snapshot length (for every link type we
// read): a file whose header gives a snapshot length of 0 or more than this
// is treated as having this one, and a classic-pcap record claiming more
// captured bytes than this is reported as damaged.
const MaxSnapLen = 262144

// maxBlockLen bounds the length of one pcapng block, as libpcap does.
const maxBlockLen = 16 << 20

// File magic numbers, as read in big-endian order.
const (
	magicMicro     = 0xa1b2c3d4 // classic pcap, microsecond timestamps
	magicNano      = 0xa1b23c4d // classic pcap, nanosecond timestamps
	magicModified  = 0xa1b2cd34 // Kuznetzov's "modified" pcap, 24-byte record headers
	magicPcapngSHB = 0x0a0d0d0a // pcapng Section Header Block type (a palindrome)
)

// reader reads one capture file (classic pcap or pcapng). It implements Source.
type reader struct {
	in     input
	path   string
	closer io.Closer // nil when the caller owns the stream
	file   int       // index reported in Record.File
	count  uint64    // packet records seen so far
	done   bool      // after the end or an error: Next returns io.EOF
	ng     bool      // pcapng rather than classic pcap
	be     bool      // current byte order is big-endian

	// Classic pcap.
	hdrLen  int    // record header length: 16, or 24 for the modified format
	nano    bool   // timestamps in nanoseconds
	snap    uint32 // snapshot length, adjusted as libpcap does
	link    uint16 // DLT reported for every record
	swapLen int8   // libpcap's lengths_swapped: notSwapped, maybeSwapped, swapped

	// pcapng: interfaces of the current section.
	ifaces []iface
}

// Open opens a capture file, classic pcap or pcapng (detected from its first
// four bytes, whatever the file name), and reads its header. path "-" means
// standard input. Named pipes work: the file is read strictly forward.
//
// A file that cannot be opened gives the *os.PathError; a file that is not a
// capture gives a *FormatError wrapping ErrNotCapture; a header cut short
// gives a *FormatError wrapping ErrTruncated; any other damage to the header,
// or a read error, gives a *FormatError (Packet 0). For pcapng, Open reads up
// to and including the first Interface Description Block, as libpcap does.
//
// The Source owns the file and closes it on Close (standard input is not
// closed). It must be used by one goroutine at a time.
func Open(path string) (Source, error) {
	if path == "-" {
		return NewReader(os.Stdin, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var s *reader
	if st, serr := f.Stat(); serr == nil && st.Mode().IsRegular() {
		// Read ahead on another goroutine (prefetch.go); pipes and
		// devices are read directly, as they may block.
		s, err = openPrefetched(f, f, path, chunkData, chunkHeadroom)
	} else {
		s, err = newReader(f, f, path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// openPrefetched is newReader for a source read ahead in chunks of data
// bytes with headroom bytes in front (see startPrefetch).
func openPrefetched(src io.Reader, closer io.Closer, path string, data, headroom int) (*reader, error) {
	in := input{src: src, limit: maxBlockLen, pre: startPrefetch(src, data, headroom)}
	s, err := openReader(in, closer, path)
	if err != nil {
		in.pre.close()
		return nil, err
	}
	return s, nil
}

// NewReader reads a capture from r, which is read strictly forward and never
// seeked. name is used in error messages. The Source does not own r: its
// Close does not close r. Errors are those of Open.
func NewReader(r io.Reader, name string) (Source, error) {
	s, err := newReader(r, nil, name)
	if err != nil {
		return nil, err // not a nil *reader in a non-nil Source
	}
	return s, nil
}

func newReader(src io.Reader, closer io.Closer, path string) (*reader, error) {
	return openReader(newInput(src, maxBlockLen), closer, path)
}

// openReader reads the file header from in; closer, when not nil, is
// closed by Close.
func openReader(in input, closer io.Closer, path string) (*reader, error) {
	rd := &reader{in: in, path: path, closer: closer}
	n := rd.in.fill(4)
	if err := rd.in.readErr(); n < 4 && err != nil {
		return nil, rd.readError(0, 0, err)
	}
	if n < 4 {
		return nil, rd.headerError(ErrTruncated, "file header cut short: %d of 4 bytes of magic number", n)
	}
	magic := binary.BigEndian.Uint32(rd.in.buf[rd.in.r:])
	var err error
	switch magic {
	case magicMicro, magicNano, magicModified:
		rd.be = true
		err = rd.openPcap(magic)
	case swap32(magicMicro), swap32(magicNano), swap32(magicModified):
		err = rd.openPcap(swap32(magic))
	case magicPcapngSHB:
		err = rd.openPcapng()
	default:
		err = rd.headerError(ErrNotCapture, "not a pcap or pcapng capture (magic number 0x%08x)", magic)
	}
	if err != nil {
		return nil, err
	}
	return rd, nil
}

// Next implements Source. Record.Data aliases the reader's buffer and is
// valid until the next call to Next or Close.
func (r *reader) Next(rec *Record) error {
	if r.done {
		return io.EOF
	}
	if r.ng {
		return r.nextPcapng(rec)
	}
	return r.nextPcap(rec)
}

// Close implements Source. It closes the file if the reader opened it.
// Calling Close more than once is harmless.
func (r *reader) Close() error {
	r.done = true
	if r.in.pre != nil {
		r.in.pre.close()
		r.in.pre, r.in.cur = nil, nil
	}
	r.in.buf = nil
	r.in.r, r.in.w = 0, 0
	if r.closer == nil {
		return nil
	}
	c := r.closer
	r.closer = nil
	return c.Close()
}

// u16, u32 and u64 decode in the byte order of the current file or section.
func (r *reader) u16(b []byte) uint16 {
	if r.be {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *reader) u32(b []byte) uint32 {
	if r.be {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *reader) u64(b []byte) uint64 {
	if r.be {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

func swap32(v uint32) uint32 {
	return v>>24 | v>>8&0xff00 | v<<8&0xff0000 | v<<24
}

// fail ends the reader and returns a *FormatError about the record (or
// block) starting at off.
func (r *reader) fail(off int64, sentinel error, format string, args ...any) error {
	r.done = true
	return &FormatError{Path: r.path, Packet: r.count + 1, Offset: off, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// headerError is a *FormatError about the file header (Packet 0), at the
// current offset.
func (r *reader) headerError(sentinel error, format string, args ...any) error {
	r.done = true
	return &FormatError{Path: r.path, Offset: r.in.offset(), Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// readError reports an I/O error (not the end of the input).
func (r *reader) readError(packet uint64, off int64, err error) error {
	r.done = true
	return &FormatError{Path: r.path, Packet: packet, Offset: off, Reason: "read error: " + err.Error(), Err: err}
}

// truncated reports a record (or header) cut short by the end of the input,
// or by a read error if one happened.
func (r *reader) truncated(off int64, what string, want, got int) error {
	if err := r.in.readErr(); err != nil {
		return r.readError(r.count+1, off, err)
	}
	return r.fail(off, ErrTruncated, "%s cut short by end of file: %d of %d bytes", what, got, want)
}
