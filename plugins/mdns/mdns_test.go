package mdns_test

import (
	"errors"
	"slices"
	"sort"
	"testing"

	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
	"github.com/nfstream-go/nfstream/plugins/internal/plugintest"
	"github.com/nfstream-go/nfstream/plugins/mdns"
)

func ptrs(f *flow.Flow) []string {
	v, _ := f.UDPS.Get(mdns.PTR)
	return v.Strings
}

// TestCapture is NFStream's test_mdns.
func TestCapture(t *testing.T) {
	flows := plugintest.Run(t, testcorpus.Pcap(t, "mdns.pcap"), flow.Config{Plugins: []flow.Plugin{&mdns.MDNS{}}})
	sort.SliceStable(flows, func(i, j int) bool { return flows[i].SrcIP.String() < flows[j].SrcIP.String() })
	want := "['skynet.local', 'skynet [00:1a:ef:17:c3:05]._workstation._tcp.local', 'recombinator_mpd._mpd._tcp.local', " +
		"'_mpd._tcp.local', 'skynet._udisks-ssh._tcp.local', '_udisks-ssh._tcp.local', '_workstation._tcp.local']"
	v, _ := flows[0].UDPS.Get(mdns.PTR)
	if got := string(export.AppendPyValue(nil, v)); got != want {
		t.Errorf("row 0: udps.mdns_ptr = %s\nwant %s", got, want)
	}
	withNames := 0
	for _, f := range flows {
		if !slices.Equal(f.UDPS.Names(), []string{mdns.PTR}) {
			t.Errorf("flow %d: names %q", f.ID, f.UDPS.Names())
		}
		if len(ptrs(f)) > 0 {
			withNames++
			if f.IPVersion != 4 {
				t.Errorf("flow %d: IPv6 flow parsed (NFStream reads IPv4 only)", f.ID)
			}
		}
	}
	if withNames != 7 {
		t.Errorf("%d flows with names, want 7", withNames)
	}
}

// dns builds a DNS message: header counts, then raw sections.
func dns(qd, an, ns, ar int, body ...byte) []byte {
	return append([]byte{0, 0, 0x84, 0, 0, byte(qd), 0, byte(an), 0, byte(ns), 0, byte(ar)}, body...)
}

// rr is a record with a name given as raw bytes.
func rr(name []byte, typ byte, rdata ...byte) []byte {
	b := append(append([]byte(nil), name...), 0, typ, 0, 1, 0, 0, 0, 120, 0, byte(len(rdata)))
	return append(b, rdata...)
}

func label(s ...string) []byte {
	var b []byte
	for _, l := range s {
		b = append(append(b, byte(len(l))), l...)
	}
	return append(b, 0)
}

func TestAnswerPTRs(t *testing.T) {
	local := label("_http", "_tcp", "local") // at offset 12 when first
	for _, c := range []struct {
		name string
		msg  []byte
		want []string
		err  error
	}{
		{"question then PTR with pointer", dns(1, 1, 0, 0, append(append(append([]byte(nil), local...), 0, 12, 0, 1),
			rr([]byte{0xc0, 12}, 12, append([]byte{5, 'a', ',', 'b', 'c', 'd'}, 0xc0, 12)...)...)...),
			[]string{"a,bcd._http._tcp.local"}, nil},
		{"PTR in additional section ignored", dns(0, 0, 0, 1, rr(label("x"), 12, label("y")...)...), nil, nil},
		{"A, AAAA, TXT, SRV, OPT answers", dns(0, 5, 0, 0, slices.Concat(
			rr(label("a"), 1, 1, 2, 3, 4), rr(label("b"), 28, make([]byte, 16)...),
			rr(label("c"), 16, 2, 'o', 'k', 0), rr(label("d"), 33, append([]byte{0, 0, 0, 0, 0, 80}, label("e")...)...),
			rr(label("f"), 41))...), nil, nil},
		{"unknown type (NSEC) rejects the message", dns(0, 2, 0, 0, slices.Concat(
			rr(label("x"), 12, label("y")...), rr(label("z"), 47, 1, 2))...), nil, mdns.ErrType},
		{"forward pointer", dns(0, 1, 0, 0, rr([]byte{0xc0, 30}, 12, label("y")...)...), nil, mdns.ErrPointer},
		{"pointer loop", dns(0, 1, 0, 0, rr([]byte{0xc0, 12}, 12, label("y")...)...), nil, mdns.ErrPointer},
		{"label type 01", dns(0, 1, 0, 0, rr([]byte{0x41}, 12)...), nil, mdns.ErrLabel},
		{"name over 255 bytes", dns(1, 0, 0, 0, append(slices.Repeat(append([]byte{63}, make([]byte, 63)...), 5), 0, 0, 1, 0, 1)...), nil, mdns.ErrLongName},
		{"not UTF-8", dns(0, 1, 0, 0, rr(label("x"), 12, label("\xff")...)...), nil, mdns.ErrUTF8},
		{"TXT not UTF-8", dns(0, 1, 0, 0, rr(label("x"), 16, 1, 0xff)...), nil, mdns.ErrUTF8},
		{"short header", []byte{0, 0, 0}, nil, mdns.ErrTruncated},
		{"count beyond data", dns(0, 2, 0, 0, rr(label("x"), 12, label("y")...)...), nil, mdns.ErrTruncated},
		{"short record header", dns(0, 1, 0, 0, append(label("x"), 0, 12, 0)...), nil, mdns.ErrTruncated},
		{"short SRV", dns(0, 1, 0, 0, rr(label("x"), 33, 0, 0)...), nil, mdns.ErrTruncated},
		{"truncated label", dns(0, 1, 0, 0, 5, 'a', 'b'), nil, mdns.ErrTruncated},
	} {
		var got []string
		err := mdns.AnswerPTRs(c.msg, func(n []byte) { got = append(got, string(n)) })
		if !errors.Is(err, c.err) || !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}
}

func packetFor(msg []byte) *flow.Packet {
	ip := make([]byte, 28, 28+len(msg))
	ip[0], ip[9] = 0x45, 17
	ip = append(ip, msg...)
	n := uint16(len(ip))
	return &flow.Packet{Packet: &decode.Packet{IPVersion: 4, Protocol: 17, IP: ip,
		IPSize: n, TransportSize: n - 20, PayloadSize: n - 28}}
}

func TestPlugin(t *testing.T) {
	m := &mdns.MDNS{}
	f := &flow.Flow{DstPort: 5353, UDPS: &flow.UDPS{}}
	m.OnInit(packetFor(dns(0, 2, 0, 0, slices.Concat(rr(label("x"), 12, label("b,c")...), rr(label("x"), 12, label("a")...))...)), f)
	m.OnUpdate(packetFor([]byte("garbage")), f)
	m.OnUpdate(packetFor(dns(0, 2, 0, 0, slices.Concat(rr(label("x"), 12, label("a")...), rr(label("x"), 12, label("d")...))...)), f)
	if got, want := ptrs(f), []string{"b c", "a", "d"}; !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
	g := &flow.Flow{DstPort: 53, UDPS: &flow.UDPS{}}
	m.OnInit(packetFor(dns(0, 1, 0, 0, rr(label("x"), 12, label("a")...)...)), g)
	if len(ptrs(g)) != 0 {
		t.Errorf("port 53 examined: %q", ptrs(g))
	}
}

func FuzzAnswerPTRs(f *testing.F) {
	for _, p := range plugintest.Packets(f, testcorpus.Pcap(f, "mdns.pcap"), 40) {
		v := flow.Packet{Packet: &p}
		f.Add(append([]byte(nil), v.Payload()...))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		n := 0
		err := mdns.AnswerPTRs(msg, func(name []byte) {
			n++
			if len(name) > 255 {
				t.Fatalf("name of %d bytes", len(name))
			}
		})
		if err != nil && n > 0 {
			t.Fatal("names reported for an invalid message")
		}
		m := &mdns.MDNS{}
		fl := &flow.Flow{DstPort: 5353, UDPS: &flow.UDPS{}}
		m.OnInit(packetFor(msg), fl)
		m.OnUpdate(packetFor(msg), fl)
		if len(ptrs(fl)) > n {
			t.Fatalf("%d names kept, %d reported", len(ptrs(fl)), n)
		}
	})
}
