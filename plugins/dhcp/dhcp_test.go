package dhcp_test

import (
	"errors"
	"net/netip"
	"slices"
	"sort"
	"testing"

	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
	"github.com/nfstream-go/nfstream/plugins/dhcp"
	"github.com/nfstream-go/nfstream/plugins/internal/plugintest"
)

// render gives the values as NFStream's CSV shows them (before quoting):
// "" for None.
func render(f *flow.Flow) map[string]string {
	out := map[string]string{}
	for _, n := range f.UDPS.Names() {
		v, _ := f.UDPS.Get(n)
		out[n] = string(export.AppendPyValue(nil, v))
	}
	return out
}

var names = []string{"dhcp_12", "dhcp_50", "dhcp_55", "dhcp_57", "dhcp_60", "dhcp_77", "dhcp_options", "dhcp_addr", "dhcp_msg_type", "dhcp_oui"}

// TestCapture is NFStream's test_dhcp, with every value of every row.
func TestCapture(t *testing.T) {
	flows := plugintest.Run(t, testcorpus.Pcap(t, "dhcp.pcap"), flow.Config{Plugins: []flow.Plugin{&dhcp.DHCP{}}})
	sort.SliceStable(flows, func(i, j int) bool { return flows[i].SrcIP.String() < flows[j].SrcIP.String() })
	want := []struct {
		src  string
		exp  int8
		vals map[string]string
	}{
		{"0.0.0.0", -1, map[string]string{"dhcp_options": "[]", "dhcp_msg_type": "MsgType.DISCOVER"}},
		{"0.0.0.0", -1, map[string]string{"dhcp_50": "192.168.0.10", "dhcp_55": "1,3,6,42",
			"dhcp_options": "[53, 61, 50, 54, 55]", "dhcp_msg_type": "MsgType.REQUEST", "dhcp_oui": "00:0b:82"}},
		{"192.168.0.1", 0, map[string]string{"dhcp_options": "[]"}}, // dst_port 68: never parsed
	}
	if len(flows) != len(want) {
		t.Fatalf("%d flows, want %d", len(flows), len(want))
	}
	for i, w := range want {
		f := flows[i]
		if !slices.Equal(f.UDPS.Names(), names) {
			t.Errorf("row %d: names %q", i, f.UDPS.Names())
		}
		if f.SrcIP.String() != w.src || f.ExpirationID != w.exp {
			t.Errorf("row %d: src %v expiration_id %d, want %s %d", i, f.SrcIP, f.ExpirationID, w.src, w.exp)
		}
		got := render(f)
		for _, n := range names {
			if got[n] != w.vals[n] {
				t.Errorf("row %d: %s = %q, want %q", i, n, got[n], w.vals[n])
			}
		}
	}
}

// message builds a DHCP message with the given options (code, value...),
// chaddr length hlen and ciaddr.
func message(hlen byte, ciaddr [4]byte, opts ...[]byte) []byte {
	b := make([]byte, 240)
	b[0], b[1], b[2] = 1, 1, hlen
	copy(b[12:], ciaddr[:])
	copy(b[28:], []byte{0xaa, 0xbb, 0xcc, 1, 2, 3})
	copy(b[236:], []byte{99, 130, 83, 99})
	for _, o := range opts {
		b = append(b, o[0], byte(len(o)-1))
		b = append(b, o[1:]...)
	}
	return append(b, 0, 0, 255, 1, 2) // PAD, PAD, END, ignored bytes
}

func opt(code byte, v ...byte) []byte { return append([]byte{code}, v...) }

// packetFor wraps a DHCP message in IPv4/UDP for the plugin.
func packetFor(msg []byte) *flow.Packet {
	ip := make([]byte, 28, 28+len(msg))
	ip[0], ip[9] = 0x45, 17
	ip = append(ip, msg...)
	n := uint16(len(ip))
	return &flow.Packet{Packet: &decode.Packet{IPVersion: 4, Protocol: 17, IP: ip,
		IPSize: n, TransportSize: n - 20, PayloadSize: n - 28}}
}

func run(src string, msgs ...[]byte) *flow.Flow {
	f := &flow.Flow{SrcIP: netip.MustParseAddr(src), DstPort: 67, Protocol: 17, UDPS: &flow.UDPS{}}
	d := &dhcp.DHCP{}
	for i, m := range msgs {
		f.BidirectionalPackets = uint64(i + 1)
		if i == 0 {
			d.OnInit(packetFor(m), f)
		} else {
			d.OnUpdate(packetFor(m), f)
		}
	}
	return f
}

func TestRules(t *testing.T) {
	host := opt(12, []byte("laptop\xff")...)
	for _, c := range []struct {
		name string
		src  string
		msgs [][]byte
		exp  int8
		want map[string]string
	}{
		{"request with every option", "10.0.0.5", [][]byte{message(6, [4]byte{10, 0, 0, 5},
			opt(53, 3), host, opt(50, 10, 0, 0, 5), opt(55, 1, 121, 3), opt(57, 5, 220),
			opt(60, []byte("MSFT 5.0")...), opt(77, []byte("ws")...))}, 0,
			map[string]string{"dhcp_12": "laptop\ufffd", "dhcp_50": "10.0.0.5", "dhcp_55": "1,121,3", "dhcp_57": "1500",
				"dhcp_60": "MSFT 5.0", "dhcp_77": "ws", "dhcp_options": "[53, 12, 50, 55, 57, 60, 77]",
				"dhcp_addr": "10.0.0.5", "dhcp_msg_type": "MsgType.REQUEST", "dhcp_oui": "aa:bb:cc"}},
		{"first message type kept; ACK ends the flow", "10.0.0.5", [][]byte{
			message(6, [4]byte{}, opt(53, 8)), message(6, [4]byte{}, opt(53, 5))}, -1,
			map[string]string{"dhcp_options": "[]", "dhcp_msg_type": "MsgType.INFORM"}},
		{"no option 53: type 0", "10.0.0.5", [][]byte{message(6, [4]byte{}, opt(12))}, 0,
			map[string]string{"dhcp_options": "[]", "dhcp_msg_type": "0"}},
		{"request without 50 and 55", "10.0.0.5", [][]byte{message(6, [4]byte{}, opt(53, 0, 3))}, 0,
			map[string]string{"dhcp_options": "[53]", "dhcp_msg_type": "MsgType.REQUEST", "dhcp_oui": "aa:bb:cc"}},
		// NFStream crashes on the following; here values are left unset.
		{"unknown message type: message skipped", "0.0.0.0", [][]byte{message(6, [4]byte{}, opt(53, 9), host)}, 0,
			map[string]string{"dhcp_options": "[]"}},
		{"option 60 not UTF-8", "10.0.0.5", [][]byte{message(6, [4]byte{}, opt(53, 1), opt(60, 0xff), opt(77, 0xc3))}, 0,
			map[string]string{"dhcp_options": "[]", "dhcp_msg_type": "MsgType.DISCOVER"}},
		{"request with a 16-byte hardware address", "10.0.0.5", [][]byte{message(16, [4]byte{}, opt(53, 3))}, 0,
			map[string]string{"dhcp_options": "[53]", "dhcp_msg_type": "MsgType.REQUEST"}},
		{"short message", "0.0.0.0", [][]byte{message(6, [4]byte{})[:200]}, 0,
			map[string]string{"dhcp_options": "[]"}},
		{"option code without length", "0.0.0.0", [][]byte{append(message(6, [4]byte{}, opt(53, 1))[:243], 12)}, 0,
			map[string]string{"dhcp_options": "[]"}},
		{"truncated option value kept (dpkt)", "10.0.0.5", [][]byte{append(message(6, [4]byte{}, opt(53, 3))[:243], 55, 9, 1, 3)}, 0,
			map[string]string{"dhcp_options": "[53, 55]", "dhcp_55": "1,3", "dhcp_msg_type": "MsgType.REQUEST", "dhcp_oui": "aa:bb:cc"}},
		{"from 0.0.0.0: every message ends the flow", "0.0.0.0", [][]byte{message(6, [4]byte{}, opt(53, 1))}, -1,
			map[string]string{"dhcp_options": "[]", "dhcp_msg_type": "MsgType.DISCOVER"}},
	} {
		f := run(c.src, c.msgs...)
		got := render(f)
		for _, n := range names {
			if got[n] != c.want[n] {
				t.Errorf("%s: %s = %q, want %q", c.name, n, got[n], c.want[n])
			}
		}
		if f.ExpirationID != c.exp {
			t.Errorf("%s: expiration_id %d, want %d", c.name, f.ExpirationID, c.exp)
		}
	}
	// Flows to another port are not examined.
	f := &flow.Flow{DstPort: 68, UDPS: &flow.UDPS{}}
	(&dhcp.DHCP{}).OnInit(packetFor(message(6, [4]byte{}, opt(53, 3))), f)
	if got := render(f); got["dhcp_msg_type"] != "" {
		t.Errorf("port 68 examined: %v", got)
	}
}

func TestParse(t *testing.T) {
	var m dhcp.Message
	if err := dhcp.Parse(make([]byte, 239), &m); !errors.Is(err, dhcp.ErrShort) {
		t.Errorf("short: %v", err)
	}
	msg := message(6, [4]byte{1, 2, 3, 4}, opt(53, 1), opt(12, 'a'))
	if err := dhcp.Parse(msg, &m); err != nil {
		t.Fatal(err)
	}
	if m.HLen != 6 || string(m.CHAddr) != "\xaa\xbb\xcc\x01\x02\x03" || m.CIAddr != [4]byte{1, 2, 3, 4} ||
		len(m.Options) != 2 || m.Options[1].Code != 12 || string(m.Options[1].Value) != "a" {
		t.Errorf("%+v", m)
	}
	n := testing.AllocsPerRun(100, func() { _ = dhcp.Parse(msg, &m) })
	if n != 0 {
		t.Errorf("Parse allocates %v times with a reused Message", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range plugintest.Packets(f, testcorpus.Pcap(f, "dhcp.pcap"), 0) {
		v := flow.Packet{Packet: &p}
		f.Add(append([]byte(nil), v.Payload()...))
	}
	f.Add(message(16, [4]byte{1, 2, 3, 4}, opt(53, 3), opt(50, 1, 2, 3, 4, 5), opt(57, 1, 2, 3, 4, 5, 6, 7, 8, 9), opt(55)))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m dhcp.Message
		if dhcp.Parse(b, &m) == nil && len(m.CHAddr) > 16 {
			t.Fatalf("chaddr of %d bytes", len(m.CHAddr))
		}
		for _, src := range []string{"0.0.0.0", "10.0.0.1"} {
			f := run(src, b, b)
			if !slices.Equal(f.UDPS.Names(), names) {
				t.Fatalf("names %q", f.UDPS.Names())
			}
		}
	})
}
