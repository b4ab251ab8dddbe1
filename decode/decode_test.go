package decode

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/nfstream-go/nfstream/internal/pcapgen"
)

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
	v4a  = netip.MustParseAddr("10.0.0.1")
	v4b  = netip.MustParseAddr("10.0.0.2")
	v6a  = netip.MustParseAddr("2001:db8::1")
	v6b  = netip.MustParseAddr("2001:db8::2")
)

func udp4(sport, dport uint16, n int) []byte {
	return pcapgen.IP(v4a, v4b, 17, pcapgen.UDP(sport, dport, make([]byte, n)))
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// want summarises the fields a case checks.
type want struct {
	ok                          bool
	version, proto, tunnel      uint8
	sport, dport, vlan          uint16
	raw, ip, transport, payload uint16
	src                         string
}

func check(t *testing.T, name string, d Decoder, frame []byte, dlt uint16, w want) {
	t.Helper()
	var p Packet
	ok := d.Decode(frame, uint32(len(frame)), dlt, &p)
	if ok != w.ok {
		t.Fatalf("%s: Decode = %v, want %v", name, ok, w.ok)
	}
	if !ok {
		return
	}
	got := want{ok: ok, version: p.IPVersion, proto: p.Protocol, tunnel: p.TunnelID, sport: p.SrcPort, dport: p.DstPort,
		vlan: p.VlanID, raw: p.RawSize, ip: p.IPSize, transport: p.TransportSize, payload: p.PayloadSize}
	if p.IPVersion == 4 {
		got.src = netip.AddrFrom4([4]byte(p.SrcIP[:4])).String()
	} else {
		got.src = netip.AddrFrom16(p.SrcIP).String()
	}
	if w.src == "" {
		w.src = got.src
	}
	if got != w {
		t.Errorf("%s:\n got %+v\nwant %+v", name, got, w)
	}
}

func TestDecodeLinkAndEtherTypes(t *testing.T) {
	d := Decoder{DecodeTunnels: true}
	ip := udp4(1000, 2000, 10) // 20 + 8 + 10 = 38 bytes
	eth := pcapgen.Ethernet(macA, macB, 0x0800, ip)
	check(t, "ethernet", d, eth, DLTEthernet, want{ok: true, version: 4, proto: 17, sport: 1000, dport: 2000, raw: 60, ip: 38, transport: 18, payload: 10, src: "10.0.0.1"})

	vlan := pcapgen.Ethernet(macA, macB, 0x8100, pcapgen.VLAN(0x123, 0x8100, pcapgen.VLAN(0xfff&0x456, 0x0800, ip)))
	check(t, "stacked vlan keeps innermost", d, vlan, DLTEthernet, want{ok: true, version: 4, proto: 17, sport: 1000, dport: 2000, vlan: 0x456, raw: 60, ip: 38, transport: 18, payload: 10})

	mpls := pcapgen.Ethernet(macA, macB, 0x8847, concat([]byte{0, 0x01, 0x00, 64}, []byte{0, 0x02, 0x01, 64}, ip))
	check(t, "mpls two labels", d, mpls, DLTEthernet, want{ok: true, version: 4, proto: 17, sport: 1000, dport: 2000, raw: 60, ip: 38, transport: 18, payload: 10})

	pppoe := pcapgen.Ethernet(macA, macB, 0x8864, concat([]byte{0x11, 0, 0, 1, 0, 40, 0, 0x21}, ip))
	check(t, "pppoe", d, pppoe, DLTEthernet, want{ok: true, version: 4, proto: 17, sport: 1000, dport: 2000, raw: 60, ip: 38, transport: 18, payload: 10})

	arp := pcapgen.Ethernet(macA, macB, 0x0806, make([]byte, 28))
	check(t, "arp ignored", d, arp, DLTEthernet, want{ok: false})

	stp := pcapgen.Ethernet(macA, macB, 38, concat([]byte{0x42, 0x42, 0x03}, make([]byte, 35)))
	check(t, "spanning tree ignored", d, stp, DLTEthernet, want{ok: false})

	check(t, "raw", d, ip, DLTRaw, want{ok: true, version: 4, proto: 17, sport: 1000, dport: 2000, raw: 38, ip: 38, transport: 18, payload: 10})
	check(t, "null big-endian family", d, concat([]byte{0, 0, 0, 2}, ip), DLTNull, want{ok: true, version: 4, proto: 17, sport: 1000, dport: 2000, raw: 42, ip: 38, transport: 18, payload: 10})
	check(t, "null little-endian family still decodes", d, concat([]byte{2, 0, 0, 0}, ip), DLTNull, want{ok: true, version: 4, proto: 17, sport: 1000, dport: 2000, raw: 42, ip: 38, transport: 18, payload: 10})
	sll := concat([]byte{0, 0, 0, 1, 0, 6}, macA[:], []byte{0, 0, 0x08, 0x00}, ip)
	check(t, "linux sll", d, sll, DLTLinuxSLL, want{ok: true, version: 4, proto: 17, sport: 1000, dport: 2000, raw: 54, ip: 38, transport: 18, payload: 10})
	check(t, "ppp with compressed address", d, concat([]byte{0x00, 0x21}, ip), DLTPPP, want{ok: true, version: 4, proto: 17, sport: 1000, dport: 2000, raw: 40, ip: 38, transport: 18, payload: 10})
	check(t, "ppp FF 03 ignored (quirk)", d, concat([]byte{0xff, 0x03, 0x00, 0x21}, ip), DLTPPP, want{ok: false})
	check(t, "cisco hdlc", d, concat([]byte{0x0f, 0x00, 0x08, 0x00}, ip), DLTCHDLC, want{ok: true, version: 4, proto: 17, sport: 1000, dport: 2000, raw: 42, ip: 38, transport: 18, payload: 10})
	check(t, "unsupported link type", d, ip, 276, want{ok: false})
	check(t, "shorter than 28 bytes", d, ip[:27], DLTRaw, want{ok: false})
}

func TestDecodeRadiotap(t *testing.T) {
	d := Decoder{}
	ip := udp4(1000, 2000, 10)
	rt := make([]byte, 18) // radiotap header: length 18, flags at offset 16
	binary.LittleEndian.PutUint16(rt[2:], 18)
	wifi := make([]byte, 26) // QoS data, ToDS
	binary.LittleEndian.PutUint16(wifi[0:], 0x0188)
	copy(wifi[10:], macA[:])
	copy(wifi[16:], macB[:])
	llc := []byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00}
	frame := concat(rt, wifi, llc, ip)
	var p Packet
	if !d.Decode(frame, uint32(len(frame)), DLTRadiotap, &p) {
		t.Fatal("radiotap QoS data frame ignored")
	}
	if p.SrcMAC != macA || p.DstMAC != macB || p.SrcPort != 1000 || p.IPSize != 38 {
		t.Errorf("radiotap: %+v", p)
	}
	rt[16] = 0x50 // FCS present, bad FCS
	if d.Decode(concat(rt, wifi, llc, ip), uint32(len(frame)), DLTRadiotap, &p) {
		t.Error("radiotap frame with bad FCS decoded")
	}
}

func TestDecodeIP(t *testing.T) {
	d := Decoder{DecodeTunnels: true}
	ip := udp4(1000, 2000, 10)
	frag := append([]byte(nil), ip...)
	frag[6], frag[7] = 0x00, 0x10 // offset 16*8
	check(t, "non-first fragment ignored", d, pcapgen.Ethernet(macA, macB, 0x0800, frag), DLTEthernet, want{ok: false})
	first := append([]byte(nil), ip...)
	first[6] = 0x20 // MF, offset 0
	check(t, "first fragment kept", d, pcapgen.Ethernet(macA, macB, 0x0800, first), DLTEthernet, want{ok: true, version: 4, proto: 17, sport: 1000, dport: 2000, raw: 60, ip: 38, transport: 18, payload: 10})

	ipip := pcapgen.IP(netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2.2.2.2"), 4, ip)
	check(t, "ip-in-ip decapsulated", Decoder{}, ipip, DLTRaw, want{ok: true, version: 4, proto: 17, sport: 1000, dport: 2000, raw: 58, ip: 38, transport: 18, payload: 10, src: "10.0.0.1"})

	six := pcapgen.IP(v6a, v6b, 6, pcapgen.TCP(443, 50000, 1, 2, 0x12, make([]byte, 5)))
	check(t, "ipv6 tcp: ip_size excludes the fixed header", d, six, DLTRaw, want{ok: true, version: 6, proto: 6, sport: 443, dport: 50000, raw: 65, ip: 25, transport: 25, payload: 5, src: "2001:db8::1"})

	// Hop-by-hop extension header (8 bytes) before UDP.
	seg := pcapgen.UDP(5353, 5353, make([]byte, 4))
	hbh := concat([]byte{17, 0, 0, 0, 0, 0, 0, 0}, seg)
	ext := pcapgen.IP(v6a, v6b, 0, hbh)
	check(t, "ipv6 hop-by-hop", Decoder{}, ext, DLTRaw, want{ok: true, version: 6, proto: 17, sport: 5353, dport: 5353, raw: 60, ip: 20, transport: 12, payload: 4})

	cut := six[:len(six)-1]
	check(t, "ipv6 payload not fully captured ignored", d, cut, DLTRaw, want{ok: false})

	tcpShort := pcapgen.IP(v4a, v4b, 6, make([]byte, 12))
	check(t, "truncated tcp header is a port-0 flow", d, tcpShort, DLTRaw, want{ok: true, version: 4, proto: 6, raw: 32, ip: 32})

	tso := append([]byte(nil), ip...)
	tso[2], tso[3] = 0, 0
	check(t, "total length below header length ignored", d, tso, DLTRaw, want{ok: false})

	esp := pcapgen.IP(v4a, v4b, 50, make([]byte, 16))
	check(t, "esp has no ports", d, esp, DLTRaw, want{ok: true, version: 4, proto: 50, raw: 36, ip: 36})
}

func TestDecodeTunnels(t *testing.T) {
	inner := pcapgen.IP(netip.MustParseAddr("172.16.0.1"), netip.MustParseAddr("172.16.0.2"), 1, pcapgen.ICMPEcho(8, 1, 1, make([]byte, 8)))
	gtp := concat([]byte{0x30, 0xff, 0, byte(len(inner)), 0, 0, 0, 1}, inner)
	outer := pcapgen.Ethernet(macA, macB, 0x0800, pcapgen.IP(v4a, v4b, 17, pcapgen.UDP(2152, 2152, gtp)))
	check(t, "gtp-u", Decoder{DecodeTunnels: true}, outer, DLTEthernet, want{ok: true, version: 4, proto: 1, tunnel: TunnelGTP, raw: uint16(len(outer)), ip: 36, transport: 16, payload: 8, src: "172.16.0.1"})
	check(t, "gtp-u without decode_tunnels", Decoder{}, outer, DLTEthernet, want{ok: true, version: 4, proto: 17, sport: 2152, dport: 2152, raw: uint16(len(outer)), ip: uint16(28 + len(gtp)), transport: uint16(8 + len(gtp)), payload: uint16(len(gtp)), src: "10.0.0.1"})

	innerEth := pcapgen.Ethernet(macB, macA, 0x0800, udp4(7, 9, 30))
	tzsp := concat([]byte{1, 0, 0, 1, 1}, innerEth)
	outerT := pcapgen.Ethernet(macA, macB, 0x0800, pcapgen.IP(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), 17, pcapgen.UDP(37008, 37008, tzsp)))
	var p Packet
	if !(Decoder{DecodeTunnels: true}).Decode(outerT, uint32(len(outerT)), DLTEthernet, &p) {
		t.Fatal("tzsp ignored")
	}
	if p.TunnelID != TunnelTZSP || p.SrcPort != 7 || p.DstPort != 9 || p.SrcMAC != macB {
		t.Errorf("tzsp: tunnel %d ports %d/%d mac %x", p.TunnelID, p.SrcPort, p.DstPort, p.SrcMAC)
	}
	notTZSP := pcapgen.Ethernet(macA, macB, 0x0800, pcapgen.IP(v4a, v4b, 17, pcapgen.UDP(37008, 1, make([]byte, 8))))
	check(t, "tzsp port without tzsp header keeps tunnel id 3 (quirk)", Decoder{DecodeTunnels: true}, notTZSP, DLTEthernet,
		want{ok: true, version: 4, proto: 17, tunnel: TunnelTZSP, sport: 37008, dport: 1, raw: 60, ip: 36, transport: 16, payload: 8})
}

func TestDecodeZeroAllocs(t *testing.T) {
	frame := pcapgen.Ethernet(macA, macB, 0x0800, udp4(1000, 2000, 100))
	d := Decoder{DecodeTunnels: true}
	var p Packet
	if n := testing.AllocsPerRun(1000, func() { d.Decode(frame, uint32(len(frame)), DLTEthernet, &p) }); n != 0 {
		t.Errorf("Decode allocates %v times per packet", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	frame := pcapgen.Ethernet(macA, macB, 0x0800, pcapgen.IP(v4a, v4b, 6, pcapgen.TCP(1, 2, 3, 4, 0x18, make([]byte, 200))))
	d := Decoder{DecodeTunnels: true}
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		d.Decode(frame, uint32(len(frame)), DLTEthernet, &p)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(pcapgen.Ethernet(macA, macB, 0x0800, udp4(2152, 2152, 40)), uint16(1), true)
	f.Add(pcapgen.IP(v6a, v6b, 0, concat([]byte{44, 0, 0, 0, 0, 0, 0, 0}, pcapgen.UDP(1, 2, nil))), uint16(12), true)
	f.Add(concat([]byte{0, 0, 0, 2}, udp4(37008, 5247, 40)), uint16(0), true)
	f.Fuzz(func(t *testing.T, data []byte, dlt uint16, tunnels bool) {
		var p Packet
		if (Decoder{DecodeTunnels: tunnels}).Decode(data, uint32(len(data)), dlt, &p) {
			if len(p.IP) > len(data) || (p.IPVersion != 4 && p.IPVersion != 6) {
				t.Fatalf("inconsistent packet: version %d, %d IP bytes of %d", p.IPVersion, len(p.IP), len(data))
			}
		}
	})
}
