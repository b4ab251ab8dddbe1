package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"testing/iotest"

	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// words appends 32-bit values in the given byte order.
func words(b []byte, order binary.AppendByteOrder, v ...uint32) []byte {
	for _, x := range v {
		b = order.AppendUint32(b, x)
	}
	return b
}

// TestDamagedPcap: damaged classic pcap files give a *FormatError naming the
// record and offset, after the records before the damage; then io.EOF.
func TestDamagedPcap(t *testing.T) {
	// Header 24 bytes, records of 16 + 60 bytes at offsets 24 and 100.
	good := newPcap(le, magicMicro, 65535, 1).rec(1, 0, 60, frame(0, 60)).rec(2, 0, 60, frame(1, 60)).bytes()
	tests := []struct {
		name     string
		file     []byte
		records  int
		offset   int64
		reason   string
		sentinel error
	}{
		{"truncated last record", good[:171], 1, 100, "record cut short by end of file: 71 of 76 bytes", ErrTruncated},
		{"truncated record header", good[:110], 1, 100, "record header cut short by end of file: 10 of 16 bytes", ErrTruncated},
		{"absurd record length", newPcap(le, magicMicro, 65535, 1).rec(1, 0, 60, frame(0, 60)).recLens(2, 0, 262145, 60, frame(1, 60)).rec(3, 0, 60, frame(2, 60)).bytes(),
			1, 100, "invalid packet capture length 262145, bigger than maximum of 262144", nil},
		{"record length 2^32-1", newPcap(be, magicNano, 65535, 1).recLens(2, 0, 0xffffffff, 60, frame(1, 60)).bytes(),
			0, 24, "invalid packet capture length 4294967295", nil},
		{"truncated modified record", newPcap(le, magicModified, 65535, 1).rec(1, 0, 60, frame(0, 60)).bytes()[:24+20],
			0, 24, "record header cut short by end of file: 20 of 24 bytes", ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewReader(bytes.NewReader(tt.file), "bad.pcap")
			if err != nil {
				t.Fatal(err)
			}
			items := drain(t, s, 100)
			if len(items) != tt.records+1 {
				t.Fatalf("got %v, want %d records and an error", items, tt.records)
			}
			for _, it := range items[:tt.records] {
				if it.err != nil {
					t.Fatalf("unexpected error %v", it.err)
				}
			}
			formatErr(t, items[tt.records].err, uint64(tt.records+1), tt.offset, tt.reason, tt.sentinel)
			var r Record
			if err := s.Next(&r); err != io.EOF {
				t.Errorf("Next after the end: %v, want io.EOF", err)
			}
		})
	}
}

// TestOpenDamaged: damaged file headers are refused by NewReader (and Open).
func TestOpenDamaged(t *testing.T) {
	good := newPcap(le, magicMicro, 65535, 1).rec(1, 0, 60, frame(0, 60)).bytes()
	version := func(major, minor uint16) []byte {
		p := newPcap(le, magicMicro, 65535, 1)
		p.major, p.minor = major, minor
		return p.bytes()
	}
	ng := func() *ngFile { return (&ngFile{}).shb(le) }
	shbVersion := func(major, minor uint16) []byte {
		b := words(nil, le, blockSHB, 28, byteOrderMagic)
		b = le.AppendUint16(b, major)
		b = le.AppendUint16(b, minor)
		return words(b, le, 0xffffffff, 0xffffffff, 28)
	}
	tests := []struct {
		name     string
		file     []byte
		offset   int64
		reason   string
		sentinel error
	}{
		{"empty", nil, 0, "file header cut short: 0 of 4 bytes of magic number", ErrTruncated},
		{"three bytes", []byte{0xd4, 0xc3, 0xb2}, 0, "file header cut short: 3 of 4 bytes", ErrTruncated},
		{"wrong magic", []byte("GET / HTTP/1.1\r\n\r\n........"), 0, "not a pcap or pcapng capture (magic number 0x47455420)", ErrNotCapture},
		{"truncated pcap header", good[:20], 0, "pcap file header cut short by end of file: 20 of 24 bytes", ErrTruncated},
		{"archaic version", version(1, 0), 0, "archaic pcap savefile format (version 1.0)", nil},
		{"unsupported version", version(2, 5), 0, "unsupported pcap savefile version 2.5", nil},
		{"link type out of range", newPcap(le, magicMicro, 65535, 0x10000).bytes(), 0, "unsupported link type 65536", nil},
		{"pcapng too short", []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0}, 0, "not a pcap or pcapng capture (8 bytes)", ErrNotCapture},
		{"pcapng bad byte-order magic", words(nil, le, blockSHB, 28, 0x11223344, 1, 0, 0, 28), 0, "pcapng byte-order magic 0x11223344", ErrNotCapture},
		{"pcapng truncated SHB", ng().buf[:20], 0, "block cut short by end of file: 20 of 28 bytes", ErrTruncated},
		{"pcapng short SHB", words(nil, le, blockSHB, 24, byteOrderMagic, 1, 0, 24), 0, "section header block has a length of 24 < 28", nil},
		{"pcapng version 1.1", shbVersion(1, 1), 0, "unsupported pcapng savefile version 1.1", nil},
		{"pcapng version 2.0", shbVersion(2, 0), 0, "unsupported pcapng savefile version 2.0", nil},
		{"pcapng without IDB", ng().buf, 28, "the capture file has no Interface Description Blocks", nil},
		{"pcapng packet before IDB", ng().spb(60, frame(0, 60)).buf, 28, "packet block before any Interface Description Block", nil},
		{"pcapng IDB too short", ng().block(blockIDB, []byte{1, 0, 0, 0}).buf, 28, "interface description block is too short", nil},
		{"pcapng tsresol 10^-20", ng().idb(1, 0, tsresol(20)).buf, 28, "if_tsresol resolution 10^-20 is too high", nil},
		{"pcapng tsresol 2^-64", ng().idb(1, 0, tsresol(0x80|64)).buf, 28, "if_tsresol resolution 2^-64 is too high", nil},
		{"pcapng tsresol twice", ng().idb(1, 0, tsresol(9), tsresol(6)).buf, 28, "more than one if_tsresol option", nil},
		{"pcapng tsresol length", ng().idb(1, 0, ngOpt{optTsresol, []byte{6, 0}}).buf, 28, "if_tsresol option with length 2 != 1", nil},
		{"pcapng tsoffset length", ng().idb(1, 0, ngOpt{optTsoffset, []byte{6, 0}}).buf, 28, "if_tsoffset option with length 2 != 8", nil},
		{"pcapng option overrun", ng().block(blockIDB, words(nil, le, 1, 0, 0x00640002)).buf, 28, "option 2 overruns the block", nil},
		{"pcapng endofopt length", ng().idb(1, 0, ngOpt{optEndOfOpt, []byte{1}}).buf, 28, "opt_endofopt option with length 1 != 0", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewReader(bytes.NewReader(tt.file), "bad")
			if err == nil {
				s.Close()
				t.Fatal("NewReader succeeded")
			}
			formatErr(t, err, 0, tt.offset, tt.reason, tt.sentinel)
			if s != nil {
				t.Error("a Source came with the error")
			}
		})
	}
	// Open gives the same errors, naming the path.
	path := writeTemp(t, "bad.pcap", version(2, 5))
	_, err := Open(path)
	if want := path + ": offset 0: unsupported pcap savefile version 2.5"; err == nil || err.Error() != want {
		t.Errorf("Open: %v, want %s", err, want)
	}
}

// TestDamagedPcapng: damage after the first interface gives a *FormatError
// after the records before it, then io.EOF.
func TestDamagedPcapng(t *testing.T) {
	// SHB 28 bytes, IDB 20 bytes, EPBs of 92 bytes at offsets 48 and 140.
	start := func() *ngFile {
		return (&ngFile{}).shb(le).idb(1, 0).epb(0, 1, 60, frame(0, 60))
	}
	withTail := func(tail ...uint32) []byte { return words(start().buf, le, tail...) }
	badTrailer := start().epb(0, 2, 60, frame(1, 60)).buf
	binary.LittleEndian.PutUint32(badTrailer[len(badTrailer)-4:], 96)
	tests := []struct {
		name     string
		file     []byte
		offset   int64
		reason   string
		sentinel error
	}{
		{"block length below 12", withTail(blockEPB, 8, 8), 140, "block of type 6 has a length of 8 < 12", nil},
		{"block length not a multiple of 4", withTail(blockEPB, 30, 0, 0, 0, 0, 0, 0, 0, 30), 140, "length of 30 that is not a multiple of 4", nil},
		{"block length above 16 MiB", withTail(blockEPB, 0x7ffffff0, 0, 0), 140, "length of 2147483632 > maximum 16777216", nil},
		{"trailer mismatch", badTrailer, 140, "block total length in header 92 and trailer 96 don't match", nil},
		{"truncated last block", start().epb(0, 2, 60, frame(1, 60)).buf[:222], 140, "block cut short by end of file: 82 of 92 bytes", ErrTruncated},
		{"truncated block header", withTail(blockEPB, 92)[:146], 140, "block header cut short by end of file: 6 of 12 bytes", ErrTruncated},
		{"unknown interface", start().epb(5, 2, 60, frame(1, 60)).buf, 140, "a packet arrived on interface 5, but there's no interface description block", nil},
		{"new section forgets interfaces", start().shb(be).epb(0, 2, 60, frame(1, 60)).buf, 168, "a packet arrived on interface 0", nil},
		{"simple packet without interface", start().shb(be).spb(60, frame(1, 60)).buf, 168, "a packet arrived on interface 0", nil},
		{"caplen beyond the block", start().epbLens(0, 2, 200, 200, frame(1, 60)).buf, 140, "packet block of type 6 is too short for its captured length 200", nil},
		{"enhanced packet block too short", start().block(blockEPB, make([]byte, 16)).buf, 140, "packet block of type 6 is too short", nil},
		{"simple packet block too short", start().block(blockSPB, nil).buf, 140, "simple packet block is too short", nil},
		{"simple packet beyond the block", start().block(blockSPB, words(nil, le, 60, 0)).buf, 140, "packet block of type 3 is too short for its captured length 60", nil},
		{"later section with a bad byte-order magic", withTail(blockSHB, 28, 0x11223344, 1, 0, 0, 28), 140, "bad byte-order magic", nil},
		{"later section of version 2", withTail(blockSHB, 28, byteOrderMagic, 2, 0, 0, 28), 140, "unsupported pcapng savefile version 2.0", nil},
		{"later interface with a bad option", start().idb(1, 0, tsresol(30)).buf, 140, "if_tsresol resolution 10^-30 is too high", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewReader(bytes.NewReader(tt.file), "bad.pcapng")
			if err != nil {
				t.Fatal(err)
			}
			items := drain(t, s, 100)
			if len(items) != 2 || items[0].err != nil || items[0].rec != (rec{0, 1000, 60, 60, 1}) {
				t.Fatalf("got %v, want one record and an error", items)
			}
			formatErr(t, items[1].err, 2, tt.offset, tt.reason, tt.sentinel)
			var r Record
			if err := s.Next(&r); err != io.EOF {
				t.Errorf("Next after the end: %v, want io.EOF", err)
			}
		})
	}
}

// TestReadErrors: an I/O error from the underlying reader is a *FormatError
// wrapping it, after the records read before it.
func TestReadErrors(t *testing.T) {
	file := newPcap(le, magicMicro, 65535, 1).rec(1, 0, 60, frame(0, 60)).rec(2, 0, 60, frame(1, 60)).bytes()
	s, err := NewReader(io.MultiReader(bytes.NewReader(file[:150]), iotest.ErrReader(os.ErrDeadlineExceeded)), "slow")
	if err != nil {
		t.Fatal(err)
	}
	items := drain(t, s, 10)
	if len(items) != 2 || items[0].err != nil || !errors.Is(items[1].err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want a record and a read error", items)
	}
	formatErr(t, items[1].err, 2, 100, "read error: i/o timeout", os.ErrDeadlineExceeded)

	// A reader that makes no progress.
	if _, err := NewReader(zeroReader{}, "zero"); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("NewReader(zero reads) = %v, want io.ErrNoProgress", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// TestSlowReaders: reading one byte at a time, or with data and EOF
// together, gives exactly the same records.
func TestSlowReaders(t *testing.T) {
	files := map[string][]byte{
		"mixed.pcapng": mixedPcapng(),
		"pcap":         newPcap(be, magicNano, 65535, 1).rec(1, 2, 60, frame(0, 60)).rec(3, 4, 1514, frame(1, 1514)).bytes(),
	}
	for name, file := range files {
		var all [][]item
		for _, r := range []io.Reader{bytes.NewReader(file), iotest.OneByteReader(bytes.NewReader(file)), iotest.DataErrReader(bytes.NewReader(file)), iotest.HalfReader(bytes.NewReader(file))} {
			s, err := NewReader(r, name)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, drain(t, s, 100))
		}
		for i := 1; i < len(all); i++ {
			if !sameItems(all[0], all[i]) {
				t.Errorf("%s: reader %d gives %v, want %v", name, i, all[i], all[0])
			}
		}
	}
}

func sameItems(a, b []item) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].rec != b[i].rec || !bytes.Equal(a[i].data, b[i].data) || a[i].number != b[i].number || (a[i].err == nil) != (b[i].err == nil) {
			return false
		}
		if a[i].err != nil && a[i].err.Error() != b[i].err.Error() {
			return false
		}
	}
	return true
}

// recordEnds reads a whole file and returns its records and the file offset
// just after each.
func recordEnds(t *testing.T, file []byte) ([]item, []int64) {
	s, err := NewReader(bytes.NewReader(file), "orig")
	if err != nil {
		t.Fatal(err)
	}
	var items []item
	var ends []int64
	var r Record
	for {
		err := s.Next(&r)
		if err == io.EOF {
			return items, ends
		}
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, item{rec: recOf(&r), data: bytes.Clone(r.Data), number: r.Number})
		ends = append(ends, s.(*reader).in.offset())
	}
}

// TestBitFlips damages corpus captures (pcap and pcapng) by flipping single
// bits and by cutting them short: reading must not panic nor hang, and every
// record that ends before the damage must come out unchanged.
func TestBitFlips(t *testing.T) {
	files := []string{"facebook.pcap", "ps_vue.pcap", "mdns.pcap", "nats.pcap", "dhcp_big_endian.pcapng", "z3950.pcapng", "quic_interop_V.pcapng", "reasm_crash_anon.pcapng"}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range files {
		orig, err := os.ReadFile(testcorpus.Pcap(t, name))
		if err != nil {
			t.Fatal(err)
		}
		orig = orig[:lastEnd(t, orig[:min(len(orig), 200_000)])]
		want, ends := recordEnds(t, orig)
		trials := 300
		if testing.Short() {
			trials = 30
		}
		for trial := range trials {
			mut := bytes.Clone(orig)
			pos := rng.IntN(len(mut))
			if trial%4 == 3 {
				mut = mut[:pos] // cut short
			} else {
				mut[pos] ^= 1 << rng.IntN(8)
			}
			s, err := NewReader(bytes.NewReader(mut), name)
			if err != nil {
				continue
			}
			got := drain(t, s, len(mut)/12+2)
			for i, end := range ends {
				if end > int64(pos) {
					break
				}
				if i >= len(got) || got[i].err != nil || got[i].rec != want[i].rec || !bytes.Equal(got[i].data, want[i].data) {
					t.Fatalf("%s with byte %d damaged: record %d (ending at %d) lost or changed", name, pos, i+1, end)
				}
			}
		}
	}
}

// lastEnd is the end of the last complete record of a prefix of a file.
func lastEnd(t *testing.T, file []byte) int {
	s, err := NewReader(bytes.NewReader(file), "prefix")
	if err != nil {
		t.Fatal(err)
	}
	end := int64(0)
	var r Record
	for s.Next(&r) == nil {
		end = s.(*reader).in.offset()
	}
	return int(end)
}
