package capture

import (
	"io"
	"os"
	"testing"

	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// loopReader returns head once, then body over and over, forever.
type loopReader struct {
	head, body []byte
	off        int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(l.head) > 0 {
			c := copy(p[n:], l.head)
			l.head = l.head[c:]
			n += c
			continue
		}
		c := copy(p[n:], l.body[l.off:])
		l.off = (l.off + c) % len(l.body)
		n += c
	}
	return n, nil
}

// endless builds a Source over an endless stream of records of assorted
// sizes (60 to 1514 bytes), in classic pcap or pcapng, and returns it with
// the average number of file bytes per record.
func endless(tb testing.TB, ng bool) (Source, float64) {
	sizes := []int{60, 66, 1514, 590, 54, 1200, 342, 74}
	var head, body []byte
	if ng {
		w := (&ngFile{}).shb(le).idb(1, 0)
		head = w.buf
		w.buf = nil
		for i, n := range sizes {
			w.epb(0, uint64(i), uint32(n), frame(byte(i), n))
		}
		body = w.buf
	} else {
		p := newPcap(le, magicMicro, 65535, 1)
		head = p.bytes()
		p.buf = nil
		for i, n := range sizes {
			p.rec(uint32(i), 0, uint32(n), frame(byte(i), n))
		}
		body = p.buf
	}
	s, err := NewReader(&loopReader{head: head, body: body}, "endless")
	if err != nil {
		tb.Fatal(err)
	}
	return s, float64(len(body)) / float64(len(sizes))
}

// TestZeroAllocs: Next allocates nothing per record, for classic pcap,
// pcapng and a list of files.
func TestZeroAllocs(t *testing.T) {
	for _, ng := range []bool{false, true} {
		s, _ := endless(t, ng)
		var r Record
		allocs := testing.AllocsPerRun(20000, func() {
			if err := s.Next(&r); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("pcapng %v: %v allocations per record, want 0", ng, allocs)
		}
	}
	s, err := OpenFiles([]string{testcorpus.Pcap(t, "skype.pcap")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var r Record
	allocs := testing.AllocsPerRun(3000, func() {
		if err := s.Next(&r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("OpenFiles: %v allocations per record, want 0", allocs)
	}
}

// BenchmarkNext measures the cost per record, from memory (no I/O).
func BenchmarkNext(b *testing.B) {
	for _, f := range []struct {
		name string
		ng   bool
	}{{"pcap", false}, {"pcapng", true}} {
		b.Run(f.name, func(b *testing.B) {
			s, perRecord := endless(b, f.ng)
			var r Record
			b.SetBytes(int64(perRecord))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Next(&r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBench40 reads the reference benchmark capture (built by
// ../shared/bench/make-bench40.sh; $NFSTREAM_BENCH_PCAP or
// /tmp/bench40.pcap) from the page cache, touching one byte per record like
// readfloor does. One operation is the whole file.
func BenchmarkBench40(b *testing.B) {
	path := os.Getenv("NFSTREAM_BENCH_PCAP")
	if path == "" {
		path = "/tmp/bench40.pcap"
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Skipf("%s not found: build it with make-bench40.sh", path)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	var records, check int
	for b.Loop() {
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		var r Record
		records = 0
		for {
			err := s.Next(&r)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			records++
			if len(r.Data) > 0 {
				check += int(r.Data[0])
			}
		}
		s.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(records), "ns/record")
	b.ReportMetric(float64(records), "records")
}
