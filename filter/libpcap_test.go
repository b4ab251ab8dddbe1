//go:build cgo

package filter

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"unsafe"

	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

func TestInstructionLayout(t *testing.T) {
	if unsafe.Sizeof(Instruction{}) != sizeofInsn || unsafe.Offsetof(Instruction{}.K) != 4 {
		t.Fatalf("Instruction is %d bytes, struct bpf_insn %d", unsafe.Sizeof(Instruction{}), sizeofInsn)
	}
}

// TestCompile checks programs compiled by libpcap 1.10.3 instruction by
// instruction (as printed by tcpdump -dd).
func TestCompile(t *testing.T) {
	tests := []struct {
		expr     string
		linkType uint16
		want     []Instruction
	}{
		{"tcp", 1, []Instruction{
			{0x28, 0, 0, 0x0000000c}, {0x15, 0, 2, 0x00000800}, {0x30, 0, 0, 0x00000017}, {0x15, 6, 7, 0x00000006},
			{0x15, 0, 6, 0x000086dd}, {0x30, 0, 0, 0x00000014}, {0x15, 3, 0, 0x00000006}, {0x15, 0, 3, 0x0000002c},
			{0x30, 0, 0, 0x00000036}, {0x15, 0, 1, 0x00000006}, {0x6, 0, 0, 0x00040000}, {0x6, 0, 0, 0x00000000},
		}},
		{"host 192.168.1.1", 12, []Instruction{
			{0x30, 0, 0, 0}, {0x54, 0, 0, 0xf0}, {0x15, 0, 5, 0x40}, {0x20, 0, 0, 12}, {0x15, 2, 0, 0xc0a80101},
			{0x20, 0, 0, 16}, {0x15, 0, 1, 0xc0a80101}, {0x6, 0, 0, 0x00040000}, {0x6, 0, 0, 0},
		}},
		{"", 1, []Instruction{{0x6, 0, 0, 0x00040000}}},
	}
	for _, tt := range tests {
		f, err := Compile(tt.expr, tt.linkType, 0)
		if err != nil {
			t.Fatalf("%q: %v", tt.expr, err)
		}
		if got := f.Instructions(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%q on link type %d:\n got %v\nwant %v", tt.expr, tt.linkType, got, tt.want)
		}
	}
	// The snapshot length is what an accepted record returns.
	f, err := Compile("ip", 1, 1536)
	if err != nil {
		t.Fatal(err)
	}
	if last := f.Instructions()[len(f.Instructions())-2]; last != (Instruction{0x6, 0, 0, 1536}) {
		t.Errorf("accepting return %v, want ret #1536", last)
	}
}

// TestCompileErrors: expressions libpcap refuses give a *CompileError
// wrapping ErrInvalid, with libpcap's message.
func TestCompileErrors(t *testing.T) {
	tests := []struct {
		expr     string
		linkType uint16
		want     string
	}{
		{"my filter", 1, `bpf_filter "my filter": can't parse filter expression: syntax error`},
		{"vlan", 12, `bpf_filter "vlan": no VLAN support for Raw IP`},
		{"ip[0] / 0 == 1", 1, `bpf_filter "ip[0] / 0 == 1": division by zero`},
		{"tcp port 99999", 1, `bpf_filter "tcp port 99999": illegal port number 99999 > 65535`},
	}
	for _, tt := range tests {
		_, err := Compile(tt.expr, tt.linkType, 0)
		var ce *CompileError
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &ce) || ce.LinkType != tt.linkType || err.Error() != tt.want {
			t.Errorf("Compile(%q) = %v, want %q wrapping ErrInvalid", tt.expr, err, tt.want)
		}
	}
}

// corpusFilters are the expressions checked against libpcap; they cover
// Ethernet, VLAN, IPv6, fragments, TCP flags, lengths and, with
// "protochain", backward jumps.
var corpusFilters = []string{
	"tcp", "udp port 53", "src port 52066 or dst port 52066", "ip6", "vlan", "host 192.168.1.1",
	"tcp[tcpflags] & tcp-syn != 0", "ip[6:2] & 0x1fff != 0", "len > 100",
	"ip6 protochain 6", "ip protochain 17", "net 10.0.0.0/8 and not port 443", "greater 1000 or less 64",
	"icmp or arp", "udp[8:4] = 0x01000000", "ip[2:2] / 4 > 100 and ip[9] % 5 == 1", "inbound",
}

// TestAgreesWithLibpcap runs many filters on every record of every corpus
// capture, whole and cut short at random points, with the Go interpreter
// and with libpcap's bpf_filter: the results must be the same. It also
// counts the records each filter accepts in a few captures.
func TestAgreesWithLibpcap(t *testing.T) {
	dir := filepath.Dir(testcorpus.Pcap(t, "facebook.pcap"))
	paths, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	sets := make([]*Set, len(corpusFilters))
	for i, expr := range corpusFilters {
		if expr == "inbound" {
			sets[i] = &Set{expr: expr} // not valid on Ethernet, which NewSet checks
			continue
		}
		if sets[i], err = NewSet(expr, 0); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	accepted := map[string]int{} // file + filter → records accepted
	checks := 0
	for _, path := range paths {
		src, err := capture.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var rec capture.Record
		for {
			err := src.Next(&rec)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, set := range sets {
				f, err := set.Filter(rec.LinkType)
				if err != nil {
					continue // e.g. "vlan" on raw IP
				}
				cut := rec.Data[:rng.IntN(len(rec.Data)+1)]
				for _, data := range [][]byte{rec.Data, cut} {
					got, want := run(f.code, data, rec.WireLen), libpcapFilter(f.prog, data, rec.WireLen)
					checks++
					if got != want {
						t.Fatalf("%s record %d (%d of %d bytes), %q: Go %d, libpcap %d", filepath.Base(path), rec.Number, len(data), len(rec.Data), corpusFilters[i], got, want)
					}
				}
				if f.Match(rec.Data, rec.WireLen) {
					accepted[filepath.Base(path)+" "+corpusFilters[i]]++
				}
			}
		}
		src.Close()
	}
	if checks < 1_000_000 {
		t.Errorf("only %d comparisons", checks)
	}
	for key, want := range map[string]int{
		"facebook.pcap src port 52066 or dst port 52066": 19,
		"facebook.pcap tcp":                                60,
		"facebook.pcap tcp[tcpflags] & tcp-syn != 0":       4,
		"google_ssl.pcap tcp":                              28,
		"ip_fragmented_garbage.pcap ip[6:2] & 0x1fff != 0": 9048,
		"skype.pcap udp port 53":                           194,
		"mdns.pcap inbound":                                157,
		"http_ipv6.pcap ip6 protochain 6":                  128,
	} {
		if accepted[key] != want {
			t.Errorf("%s: %d records accepted, want %d", key, accepted[key], want)
		}
	}
}

// FuzzInterpreter compares the interpreter with libpcap's bpf_filter on
// arbitrary valid programs and packets. Programs with backward jumps are
// left out: libpcap 1.10 has no bound on them and may loop for ever.
func FuzzInterpreter(f *testing.F) {
	for _, expr := range corpusFilters[:9] {
		c, err := Compile(expr, 1, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(encodeProgram(c.prog), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0x20, 0, 64, 6}, uint32(60))
	}
	f.Fuzz(func(t *testing.T, code []byte, data []byte, wire uint32) {
		prog := decodeProgram(code)
		for _, in := range prog {
			if in.Code == opJA && int32(in.K) < 0 {
				return
			}
		}
		flt, err := New("fuzz", prog)
		if err != nil || readsUnsetMemory(prog) {
			return
		}
		if got, want := run(flt.code, data, wire), libpcapFilter(prog, data, wire); got != want {
			t.Fatalf("program %v on % x: Go %d, libpcap %d", prog, data, got, want)
		}
	})
}

// readsUnsetMemory reports whether some path of the (validated, forward
// jumping) program loads a scratch memory slot before storing it. libpcap
// reads its uninitialised stack there, so no comparison is possible; the
// Go interpreter reads 0, and pcap_compile never emits such programs.
func readsUnsetMemory(prog []Instruction) bool {
	const unreached = ^uint16(0)
	set := make([]uint16, len(prog)+1) // slots stored on every path to i
	for i := range set {
		set[i] = unreached
	}
	set[0] = 0
	for i, in := range prog {
		have := set[i]
		if have == unreached {
			continue // dead code
		}
		class, mode := in.Code&0x07, in.Code&0xe0
		if (class == 0x00 || class == 0x01) && mode == 0x60 && (in.K >= 16 || have&(1<<in.K) == 0) {
			return true // LD or LDX from M[k] not yet stored
		}
		if class == 0x02 || class == 0x03 { // ST, STX
			if in.K < 16 {
				have |= 1 << in.K
			}
		}
		flow := func(j int) {
			if j >= 0 && j < len(set) {
				if set[j] == unreached {
					set[j] = have
				} else {
					set[j] &= have
				}
			}
		}
		switch {
		case class == 0x06: // RET
		case class == 0x05 && in.Code&0xf0 == 0x00: // JA
			flow(i + 1 + int(in.K))
		case class == 0x05:
			flow(i + 1 + int(in.Jt))
			flow(i + 1 + int(in.Jf))
		default:
			flow(i + 1)
		}
	}
	return false
}

func encodeProgram(prog []Instruction) []byte {
	var b []byte
	for _, in := range prog {
		b = append(b, byte(in.Code), byte(in.Code>>8), in.Jt, in.Jf, byte(in.K), byte(in.K>>8), byte(in.K>>16), byte(in.K>>24))
	}
	return b
}

func decodeProgram(b []byte) []Instruction {
	var prog []Instruction
	for ; len(b) >= 8; b = b[8:] {
		prog = append(prog, Instruction{uint16(b[0]) | uint16(b[1])<<8, b[2], b[3], uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16 | uint32(b[7])<<24})
	}
	return prog
}

// TestFacebookConnection: the TCP connection on port 52066 of facebook.pcap
// is 19 records, numbers 1 to 18 and 20 (checked with tshark -Y
// "tcp.port == 52066" and tcpdump).
func TestFacebookConnection(t *testing.T) {
	set, err := NewSet("src port 52066 or dst port 52066", 0)
	if err != nil {
		t.Fatal(err)
	}
	src, err := capture.Open(testcorpus.Pcap(t, "facebook.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var numbers []uint64
	var rec capture.Record
	for src.Next(&rec) == nil {
		ok, err := set.Match(rec.LinkType, rec.Data, rec.WireLen)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			numbers = append(numbers, rec.Number)
		}
	}
	if want := "[1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 20]"; fmt.Sprint(numbers) != want {
		t.Errorf("records %v, want %s", numbers, want)
	}
}

// TestSet: the set compiles per link type, caches failures, refuses an
// invalid expression up front and may be used from many goroutines.
func TestSet(t *testing.T) {
	if _, err := NewSet("my filter", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewSet(my filter) = %v, want ErrInvalid", err)
	}
	vlan, err := NewSet("ip or vlan", 0)
	if err != nil {
		t.Fatal(err)
	}
	ipv4 := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	eth := append([]byte{1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 0x08, 0x00}, ipv4...)
	sll := append([]byte{0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00}, ipv4...)
	_, err1 := vlan.Match(12, ipv4, 20)
	_, err2 := vlan.Match(12, ipv4, 20)
	var ce *CompileError
	if !errors.As(err1, &ce) || ce.LinkType != 12 || err1 != err2 || err1.Error() != `bpf_filter "ip or vlan": no VLAN support for Raw IP` {
		t.Errorf("raw IP: %v then %v, want the same *CompileError", err1, err2)
	}
	if ok, err := vlan.Match(1, eth, uint32(len(eth))); !ok || err != nil {
		t.Errorf("Ethernet: %v %v, want a match", ok, err)
	}

	set, err := NewSet("ip", 0)
	if err != nil {
		t.Fatal(err)
	}
	records := []struct {
		link uint16
		data []byte
	}{{1, eth}, {113, sll}, {12, ipv4}}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				r := records[(g+i)%len(records)]
				ok, err := set.Match(r.link, r.data, uint32(len(r.data)))
				if err != nil || !ok {
					t.Errorf("link type %d: %v %v", r.link, ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := len(*set.entries.Load()); n != 3 {
		t.Errorf("%d link types compiled, want 3 (1, 113, 12)", n)
	}
	if allocs := testing.AllocsPerRun(1000, func() { set.Match(1, eth, uint32(len(eth))) }); allocs != 0 {
		t.Errorf("%v allocations per Set.Match, want 0", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	src, err := capture.Open(testcorpus.Pcap(b, "skype.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	var recs [][]byte
	var rec capture.Record
	for src.Next(&rec) == nil {
		recs = append(recs, append([]byte(nil), rec.Data...))
	}
	src.Close()
	for _, expr := range []string{"tcp", "src port 52066 or dst port 52066", "ip6 protochain 6"} {
		f, err := Compile(expr, 1, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(expr, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d := recs[i%len(recs)]
				f.Match(d, uint32(len(d)))
				i++
			}
		})
		b.Run(expr+" libpcap", func(b *testing.B) {
			i := 0
			for b.Loop() {
				d := recs[i%len(recs)]
				libpcapFilter(f.prog, d, uint32(len(d)))
				i++
			}
		})
	}
}
