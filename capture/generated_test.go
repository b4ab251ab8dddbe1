package capture

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClassic reads generated classic pcap files: byte orders, resolutions,
// the modified format, old versions, snapshot-length clamping, link types.
func TestClassic(t *testing.T) {
	tests := []struct {
		name string
		file []byte
		want []rec
	}{
		{
			name: "microseconds little-endian",
			file: newPcap(le, magicMicro, 65535, 1).rec(1000, 999999, 60, frame(0, 60)).rec(1001, 0, 60, nil).bytes(),
			want: []rec{{1000, 999999000, 60, 60, 1}, {1001, 0, 0, 60, 1}},
		},
		{
			name: "microseconds big-endian",
			file: newPcap(be, magicMicro, 65535, 1).rec(1000, 999999, 60, frame(0, 60)).rec(1001, 0, 60, nil).bytes(),
			want: []rec{{1000, 999999000, 60, 60, 1}, {1001, 0, 0, 60, 1}},
		},
		{
			name: "nanoseconds little-endian",
			file: newPcap(le, magicNano, 65535, 1).rec(5, 123456789, 1514, frame(0, 1514)).rec(6, 999999999, 60, frame(1, 42)).bytes(),
			want: []rec{{5, 123456789, 1514, 1514, 1}, {6, 999999999, 42, 60, 1}},
		},
		{
			name: "nanoseconds big-endian",
			file: newPcap(be, magicNano, 65535, 1).rec(5, 123456789, 1514, frame(0, 1514)).bytes(),
			want: []rec{{5, 123456789, 1514, 1514, 1}},
		},
		{
			// 24-byte record headers; Ethernet gets 14 more bytes of snapshot length.
			name: "modified format Ethernet",
			file: newPcap(le, magicModified, 100, 1).rec(7, 1, 160, frame(0, 120)).rec(8, 2, 50, frame(0, 50)).bytes(),
			want: []rec{{7, 1000, 114, 160, 1}, {8, 2000, 50, 50, 1}},
		},
		{
			name: "modified format big-endian raw IP",
			file: newPcap(be, magicModified, 100, 101).rec(7, 1, 160, frame(0, 120)).rec(8, 2, 50, frame(0, 50)).bytes(),
			want: []rec{{7, 1000, 100, 160, 12}, {8, 2000, 50, 50, 12}},
		},
		{
			// Before version 2.3 the header had len before caplen.
			name: "version 2.2 swapped lengths",
			file: func() []byte {
				p := newPcap(le, magicMicro, 65535, 1)
				p.minor = 2
				return p.recLens(1, 0, 80, 60, frame(0, 60)).bytes()
			}(),
			want: []rec{{1, 0, 60, 80, 1}},
		},
		{
			name: "version 2.3 maybe swapped",
			file: func() []byte {
				p := newPcap(le, magicMicro, 65535, 1)
				p.minor = 3
				return p.recLens(1, 0, 60, 80, frame(0, 60)).recLens(2, 0, 80, 60, frame(0, 60)).bytes()
			}(),
			want: []rec{{1, 0, 60, 80, 1}, {2, 0, 60, 80, 1}},
		},
		{
			name: "DG/UX version 543.0",
			file: func() []byte {
				p := newPcap(be, magicMicro, 65535, 1)
				p.major, p.minor = 543, 0
				return p.recLens(1, 0, 80, 60, frame(0, 60)).bytes()
			}(),
			want: []rec{{1, 0, 60, 80, 1}},
		},
		{
			// libpcap passes the fraction through; we normalise it, which
			// keeps TimeMs the same.
			name: "fraction of a second out of range",
			file: newPcap(le, magicMicro, 65535, 1).rec(10, 2500000, 60, frame(0, 60)).bytes(),
			want: []rec{{12, 500000000, 60, 60, 1}},
		},
		{
			name: "nanosecond fraction out of range",
			file: newPcap(le, magicNano, 65535, 1).rec(10, 3000000001, 60, frame(0, 60)).bytes(),
			want: []rec{{13, 1, 60, 60, 1}},
		},
		{
			name: "caplen above snaplen is clamped",
			file: newPcap(le, magicMicro, 100, 1).rec(1, 0, 200, frame(0, 150)).rec(2, 0, 60, frame(9, 60)).bytes(),
			want: []rec{{1, 0, 100, 200, 1}, {2, 0, 60, 60, 1}},
		},
		{
			name: "snaplen 0 means 262144",
			file: newPcap(le, magicMicro, 0, 1).rec(1, 0, 70000, frame(0, 70000)).bytes(),
			want: []rec{{1, 0, 70000, 70000, 1}},
		},
		{
			name: "snaplen above 262144",
			file: newPcap(le, magicMicro, 0x7fffffff, 1).rec(1, 0, 262144, frame(0, 262144)).bytes(),
			want: []rec{{1, 0, 262144, 262144, 1}},
		},
		{
			name: "negative snaplen",
			file: newPcap(be, magicMicro, 0x80000000, 1).rec(1, 0, 262144, frame(0, 262144)).bytes(),
			want: []rec{{1, 0, 262144, 262144, 1}},
		},
		{
			name: "radiotap",
			file: newPcap(le, magicMicro, 65535, 127).rec(1, 2, 60, append([]byte{0, 0, 8, 0, 0, 0, 0, 0}, frame(0, 52)...)).bytes(),
			want: []rec{{1, 2000, 60, 60, 127}},
		},
		{
			name: "FCS length bits in the link type",
			file: newPcap(le, magicMicro, 65535, 0x44000001).rec(1, 2, 64, frame(0, 64)).bytes(),
			want: []rec{{1, 2000, 64, 64, 1}},
		},
		{
			name: "LINKTYPE_ATM_RFC1483",
			file: newPcap(le, magicMicro, 65535, 100).rec(1, 2, 64, frame(0, 64)).bytes(),
			want: []rec{{1, 2000, 64, 64, 11}},
		},
		{
			name: "LINKTYPE_ATM_CLIP",
			file: newPcap(le, magicMicro, 65535, 106).rec(1, 2, 64, frame(0, 64)).bytes(),
			want: []rec{{1, 2000, 64, 64, 19}},
		},
		{
			name: "no records",
			file: newPcap(le, magicMicro, 65535, 1).bytes(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewReader(bytes.NewReader(tt.file), "test.pcap")
			if err != nil {
				t.Fatal(err)
			}
			items := drain(t, s, 100)
			if errs := errorsOf(items); len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if got := records(items); !equalRecs(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func equalRecs(a, b []rec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRecordData checks that the bytes delivered are the record's, across
// the reader's buffer boundaries (records of up to 262144 bytes, so that
// many straddle the 1 MiB buffer) and after clamped records.
func TestRecordData(t *testing.T) {
	p := newPcap(le, magicMicro, 200000, 1)
	var want [][]byte
	for i := range 60 {
		n := (i*7919)%262145 + 0
		d := frame(byte(i), n)
		p.rec(uint32(i), 0, uint32(n), d)
		want = append(want, d[:min(n, 200000)])
	}
	ng := &ngFile{}
	ng.shb(be).idb(1, 0)
	for i := range 60 {
		n := (i * 104729) % 262145
		ng.epb(0, uint64(i), uint32(n), frame(byte(i), n))
	}
	for _, f := range []struct {
		name string
		data []byte
		want func(i int) []byte
	}{
		{"pcap", p.bytes(), func(i int) []byte { return want[i] }},
		{"pcapng", ng.buf, func(i int) []byte { return frame(byte(i), (i*104729)%262145) }},
	} {
		t.Run(f.name, func(t *testing.T) {
			s, err := NewReader(bytes.NewReader(f.data), f.name)
			if err != nil {
				t.Fatal(err)
			}
			items := drain(t, s, 100)
			if len(items) != 60 {
				t.Fatalf("%d items, want 60", len(items))
			}
			for i, it := range items {
				if it.err != nil {
					t.Fatalf("record %d: %v", i+1, it.err)
				}
				if !bytes.Equal(it.data, f.want(i)) {
					t.Fatalf("record %d: wrong data (%d bytes, want %d)", i+1, len(it.data), len(f.want(i)))
				}
			}
		})
	}
}

// mixedPcapng is a pcapng file with two sections of different byte orders,
// interfaces of different link types, resolutions (powers of 10 and of 2)
// and offsets, every packet block type and blocks to skip.
func mixedPcapng() []byte {
	w := &ngFile{}
	w.shb(le, ngOpt{3, []byte("test writer")})
	w.idb(1, 0)                                                                             // 0: Ethernet, µs
	w.idb(127, 128, tsresol(9), ngOpt{2, []byte("wlan0mon")})                               // 1: radiotap, ns, snaplen 128
	w.idb(101, 0, tsresol(0x80|20), tsoffset(le, 1000))                                     // 2: raw IP, 2^-20 s, +1000 s
	w.idb(113, 65535, tsresol(3))                                                           // 3: Linux cooked, ms
	w.block(4, []byte{1, 0, 9, 0, 10, 0, 0, 1, 'h', 'o', 's', 't', 0, 0, 0, 0, 0, 0, 0, 0}) // name resolution block
	w.epb(0, 1_600_000_000*1_000_000+123456, 60, frame(0, 60), ngOpt{1, []byte("a comment")})
	w.epb(1, 1_600_000_001*1_000_000_000+987654321, 200, frame(1, 128))
	w.block(5, make([]byte, 12)) // interface statistics block
	w.epb(2, (1_600_000_002-1000)<<20|524289, 40, frame(2, 40))
	w.epb(3, 1_600_000_003_042, 44, frame(3, 44))
	w.block(0x00000bad, []byte("custom block"))
	w.shb(be)
	w.idb(1, 64, tsresol(12)) // picoseconds
	w.epb(0, 5*1_000_000_000_000+123_456_789_012, 60, frame(4, 60))
	w.spb(100, frame(5, 64)) // caplen = min(len, snaplen 64), no time stamp
	w.pb(0, 7*1_000_000_000_000, 50, frame(6, 50))
	w.epb(0, 0, 0, nil) // zero-length frame

	return w.buf
}

// TestPcapng reads a generated pcapng file with two sections of different
// byte orders, interfaces of different link types, resolutions (powers of
// 10 and of 2) and offsets, every packet block type and blocks to skip.
func TestPcapng(t *testing.T) {
	s, err := NewReader(bytes.NewReader(mixedPcapng()), "test.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	items := drain(t, s, 100)
	if errs := errorsOf(items); len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := []rec{
		{1600000000, 123456000, 60, 60, 1},
		{1600000001, 987654321, 128, 200, 127},
		// 524289 / 2^20 s = 0.500000953674... s, truncated
		{1600000002, 500000953, 40, 40, 12},
		{1600000003, 42000000, 44, 44, 113},
		{5, 123456789, 60, 60, 1},
		{0, 0, 64, 100, 1},
		{7, 0, 50, 50, 1},
		{0, 0, 0, 0, 1},
	}
	if got := records(items); !equalRecs(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	wantData := [][]byte{frame(0, 60), frame(1, 128), frame(2, 40), frame(3, 44), frame(4, 60), frame(5, 64), frame(6, 50), {}}
	for i, it := range items {
		if !bytes.Equal(it.data, wantData[i]) {
			t.Errorf("record %d: data % x..., want % x...", i+1, it.data[:min(4, len(it.data))], wantData[i][:min(4, len(wantData[i]))])
		}
		if it.number != uint64(i+1) {
			t.Errorf("record %d: Number %d", i+1, it.number)
		}
	}
}

// TestPcapngResolutions checks the conversion of time stamps for many
// if_tsresol values against exact arithmetic.
func TestPcapngResolutions(t *testing.T) {
	tests := []struct {
		tsresol byte
		ts      uint64
		sec     uint64
		nsec    uint32
	}{
		{0, 12, 12, 0},                     // seconds
		{1, 125, 12, 500000000},            // 10^-1
		{6, 1_000_001, 1, 1000},            // default
		{9, 1_000_000_001, 1, 1},           // ns
		{10, 19_999_999_999, 1, 999999999}, // 10^-10: truncated, not rounded
		{19, 18_446_744_073_709_551_615, 1, 844674407},
		{0x80, 3, 3, 0},                          // 2^0
		{0x80 | 1, 3, 1, 500000000},              // 2^-1
		{0x80 | 10, 1024 + 1, 1, 976562},         // 1/1024 s = 976562.5 ns
		{0x80 | 32, 1<<32 | 1<<31, 1, 500000000}, // 2^-32
		{0x80 | 63, 1<<63 - 1, 0, 999999999},     // 2^-63
	}
	for _, tt := range tests {
		w := &ngFile{}
		w.shb(le).idb(1, 0, tsresol(tt.tsresol)).epb(0, tt.ts, 1, []byte{0})
		s, err := NewReader(bytes.NewReader(w.buf), "res.pcapng")
		if err != nil {
			t.Fatal(err)
		}
		items := drain(t, s, 10)
		if len(items) != 1 || items[0].err != nil {
			t.Fatalf("tsresol %#x: %v", tt.tsresol, items)
		}
		if r := items[0].rec; r.Sec != tt.sec || r.Nsec != tt.nsec {
			t.Errorf("tsresol %#x ts %d: %d.%09d, want %d.%09d", tt.tsresol, tt.ts, r.Sec, r.Nsec, tt.sec, tt.nsec)
		}
	}
}

// TestBigBlocks reads pcapng blocks larger than the 1 MiB read buffer: an
// IDB and an EPB with large options.
func TestBigBlocks(t *testing.T) {
	w := &ngFile{}
	w.shb(le).idb(1, 0, ngOpt{2, bytes.Repeat([]byte{'x'}, 60000)}, tsresol(9))
	big := make([]ngOpt, 40) // 40 × 60000 bytes of comments: 2.4 MB
	for i := range big {
		big[i] = ngOpt{1, bytes.Repeat([]byte{byte('a' + i)}, 60000)}
	}
	w.epb(0, 1_000_000_001, 1500, frame(1, 1500), big...)
	w.epb(0, 2_000_000_002, 60, frame(2, 60))
	s, err := NewReader(bytes.NewReader(w.buf), "big.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	items := drain(t, s, 10)
	want := []rec{{1, 1, 1500, 1500, 1}, {2, 2, 60, 60, 1}}
	if got := records(items); !equalRecs(got, want) || len(items) != 2 {
		t.Fatalf("got %v, want %v", items, want)
	}
	if !bytes.Equal(items[0].data, frame(1, 1500)) || !bytes.Equal(items[1].data, frame(2, 60)) {
		t.Error("wrong data")
	}
}

// TestPcapngOverSnapLen: like libpcap 1.10.3, a pcapng record whose caplen
// exceeds the interface's snapshot length is refused, and reading goes on
// with the next record (checked with the file of TestWriteGenerated).
func TestPcapngOverSnapLen(t *testing.T) {
	w := &ngFile{}
	w.shb(le).idb(1, 100).epb(0, 1, 150, frame(0, 150)).epb(0, 2, 60, frame(0, 60))
	s, err := NewReader(bytes.NewReader(w.buf), "snap.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	items := drain(t, s, 10)
	if len(items) != 2 {
		t.Fatalf("%d items, want 2: %v", len(items), items)
	}
	formatErr(t, items[0].err, 1, 48, "invalid packet capture length 150, bigger than snaplen of 100", ErrOverSnapLen)
	if items[1].err != nil || items[1].rec != (rec{0, 2000, 60, 60, 1}) || items[1].number != 2 {
		t.Errorf("second item %+v, want record 2", items[1])
	}
}

// TestWriteGenerated writes some generated files to $CAPTURE_GENERATED_DIR,
// for cross-checking them with tshark or libpcap by hand.
func TestWriteGenerated(t *testing.T) {
	dir := os.Getenv("CAPTURE_GENERATED_DIR")
	if dir == "" {
		t.Skip("CAPTURE_GENERATED_DIR not set")
	}
	w := &ngFile{}
	w.shb(le).idb(1, 100).epb(0, 1, 150, frame(0, 150)).epb(0, 2, 60, frame(0, 60))
	files := map[string][]byte{
		"ng-caplen-above-snaplen.pcapng": w.buf,
		"mixed.pcapng":                   mixedPcapng(),
		"ps.pcapng":                      (&ngFile{}).shb(be).idb(1, 64, tsresol(12)).epb(0, 5*1_000_000_000_000+123_456_789_012, 60, frame(4, 60)).buf,
		"ps-le.pcapng":                   (&ngFile{}).shb(le).idb(1, 64, tsresol(12)).epb(0, 5*1_000_000_000_000+123_456_789_012, 60, frame(4, 60)).buf,
		"bin20.pcapng":                   (&ngFile{}).shb(le).idb(101, 0, tsresol(0x80|20), tsoffset(le, 1000)).epb(0, (1_600_000_002-1000)<<20|524289, 40, frame(2, 40)).buf,
		"modified.pcap":                  newPcap(le, magicModified, 100, 1).rec(7, 1, 160, frame(0, 120)).bytes(),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// formatErr asserts that err is a *FormatError with the given packet, offset
// and reason text, wrapping sentinel (or no sentinel).
func formatErr(t *testing.T, err error, packet uint64, offset int64, reason string, sentinel error) {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want a *FormatError", err, err)
	}
	if fe.Packet != packet || fe.Offset != offset || !strings.Contains(fe.Reason, reason) {
		t.Errorf("error %q: packet %d offset %d, want packet %d offset %d reason containing %q", err, fe.Packet, fe.Offset, packet, offset, reason)
	}
	if sentinel != nil && !errors.Is(err, sentinel) || sentinel == nil && fe.Err != nil {
		t.Errorf("error %q wraps %v, want %v", err, fe.Err, sentinel)
	}
}
