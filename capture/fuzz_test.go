package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"

	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// FuzzReader feeds arbitrary bytes to the reader. It must not panic, must
// end within one call to Next per 12 bytes of input, must keep every record
// within the snapshot-length bound and its buffer within twice the input,
// must end a file after a format error (except ErrOverSnapLen), and must
// give the same results whether the input comes in one piece or byte by byte.
func FuzzReader(f *testing.F) {
	f.Add(newPcap(le, magicMicro, 65535, 1).rec(1, 2, 60, frame(0, 60)).rec(3, 4, 80, frame(1, 70)).bytes())
	f.Add(newPcap(be, magicNano, 100, 127).rec(1, 2, 160, frame(0, 150)).bytes())
	f.Add(newPcap(le, magicModified, 100, 1).rec(1, 2, 160, frame(0, 120)).bytes())
	f.Add(mixedPcapng())
	f.Add((&ngFile{}).shb(be).idb(1, 100, tsresol(0x80|30), tsoffset(be, -5)).epb(0, 1<<40, 150, frame(0, 150)).spb(60, frame(1, 60)).buf)
	for _, name := range []string{"facebook.pcap", "ps_vue.pcap", "mdns.pcap", "nats.pcap", "raw.pcap", "dhcp_big_endian.pcapng", "z3950.pcapng", "quic_interop_V.pcapng", "1kxun.pcap"} {
		data, err := os.ReadFile(testcorpus.Pcap(f, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 4096)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := fuzzRead(t, bytes.NewReader(data), len(data), false)
		bytewise := fuzzRead(t, iotest.OneByteReader(bytes.NewReader(data)), len(data), false)
		if !sameItems(whole, bytewise) {
			t.Fatalf("reading byte by byte differs: %v, %v", whole, bytewise)
		}
		ahead := fuzzRead(t, bytes.NewReader(data), len(data), true)
		if !sameItems(whole, ahead) {
			t.Fatalf("reading ahead in chunks differs: %v, %v", whole, ahead)
		}
	})
}

// fuzzRead reads r as NewReader does, or read ahead as Open does for a
// regular file (with small chunks).
func fuzzRead(t *testing.T, r io.Reader, size int, prefetch bool) []item {
	var s Source
	var err error
	if prefetch {
		// Small chunks and headroom: records cross chunks and longer
		// ones are stitched, at a fuzzing pace.
		var rd *reader
		if rd, err = openPrefetched(r, nil, "fuzz", 509, 97); err == nil {
			s = rd
		}
	} else {
		s, err = NewReader(r, "fuzz")
	}
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("NewReader error %v (%T), want a *FormatError", err, err)
		}
		return []item{{err: err}}
	}
	rd := s.(*reader)
	defer s.Close()
	var out []item
	var rec Record
	ended := false
	for range size/12 + 2 {
		err := s.Next(&rec)
		if err == io.EOF {
			if c := cap(rd.in.buf); c > max(bufferSize, 2*size) && rd.in.cur == nil {
				t.Fatalf("buffer of %d bytes for %d bytes of input", c, size)
			}
			return out
		}
		if ended {
			t.Fatalf("Next after a format error returned %v, want io.EOF", err)
		}
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a *FormatError", err, err)
			}
			ended = !errors.Is(err, ErrOverSnapLen)
			out = append(out, item{err: err})
			continue
		}
		if len(rec.Data) > MaxSnapLen+14 {
			t.Fatalf("record of %d bytes", len(rec.Data))
		}
		out = append(out, item{rec: recOf(&rec), data: bytes.Clone(rec.Data), number: rec.Number})
	}
	t.Fatalf("no io.EOF after %d calls to Next for %d bytes of input", size/12+2, size)
	return nil
}
