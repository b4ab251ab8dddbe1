package ja4

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/flow"
)

// The example of the JA4 specification (technical_details/JA4.md), with
// GREASE values added where browsers put them.
var (
	specCiphers = []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035}
	specExts    = []uint16{0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015}
	specSigs    = []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601}
	specWant    = Fingerprint{
		JA4:         "t13d1516h2_8daaf6152771_e5627efa2ab1",
		Raw:         "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601",
		Original:    "t13d1516h2_acb858a92679_18f69afefd3d",
		RawOriginal: "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_0403,0804,0401,0503,0805,0501,0806,0601",
	}
)

func be16(b []byte, v int) []byte { return append(b, byte(v>>8), byte(v)) }

func vec16(b []byte, body []byte) []byte { return append(be16(b, len(body)), body...) }

// clientHello builds a ClientHello handshake message (or, with dtls, the
// body that follows a DTLS handshake header) of the specification's
// example.
func clientHelloBody(dtls bool) []byte {
	body := be16(nil, 0x0303)
	if dtls {
		body = be16(nil, 0xfefd)
	}
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // session id
	if dtls {
		body = append(body, 0) // cookie
	}
	var cs []byte
	cs = be16(cs, 0x0a0a)
	for _, c := range specCiphers {
		cs = be16(cs, int(c))
	}
	body = vec16(body, cs)
	body = append(body, 1, 0) // null compression
	var exts []byte
	ext := func(typ int, data []byte) { exts = vec16(be16(exts, typ), data) }
	ext(0x1a1a, nil)
	for _, e := range specExts {
		switch e {
		case 0x0000:
			name := []byte("example.com")
			ext(0, vec16(nil, append(be16([]byte{0}, len(name)), name...)))
		case 0x0010:
			ext(0x10, vec16(nil, []byte{2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'}))
		case 0x000d:
			var s []byte
			for _, a := range specSigs {
				s = be16(s, int(a))
			}
			ext(0x0d, vec16(nil, s))
		case 0x002b:
			ext(0x2b, []byte{6, 0x7a, 0x7a, 0x03, 0x04, 0x03, 0x03})
		default:
			ext(int(e), []byte{1, 2, 3})
		}
	}
	ext(0xfafa, []byte{0})
	return vec16(body, exts)
}

func clientHello() []byte {
	body := clientHelloBody(false)
	return append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

func TestSpecExample(t *testing.T) {
	h, err := ParseClientHello(clientHello(), false)
	if err != nil {
		t.Fatal(err)
	}
	if h.ServerName != "example.com" || string(h.ALPN) != "h2" {
		t.Errorf("server name %q, ALPN %q", h.ServerName, h.ALPN)
	}
	if got := h.Fingerprint(TCP); got != specWant {
		t.Errorf("got  %+v\nwant %+v", got, specWant)
	}
	// Without signature algorithms the last part has no '_'.
	h.SignatureAlgorithms = nil
	if got, want := h.Fingerprint(TCP).JA4, "t13d1516h2_8daaf6152771_6d807ffa2a79"; got != want {
		t.Errorf("no signature algorithms: %s, want %s", got, want)
	}
}

func TestALPNCode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "00"},
		{"h2", "h2"},
		{"http/1.1", "h1"},
		{"h", "hh"},
		{"\xab", "ab"},
		{"\xab\xcd", "ad"},
		{"\x30\xab", "3b"},
		{"\x30\x31\xab\xcd", "3d"},
		{"\x30\xab\xcd\x31", "01"},
	} {
		if got := alpnCode([]byte(c.in)); got != c.want {
			t.Errorf("alpnCode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestGREASE(t *testing.T) {
	n := 0
	for v := range 1 << 16 {
		if IsGREASE(uint16(v)) {
			n++
			if v&0x0f0f != 0x0a0a || v>>8 != v&0xff {
				t.Errorf("%04x", v)
			}
		}
	}
	if n != 16 {
		t.Errorf("%d GREASE values, want 16", n)
	}
}

// TestInitialSecrets checks the key derivation against RFC 9001 appendix
// A.1 and RFC 9369 appendix A.1.
func TestInitialSecrets(t *testing.T) {
	dcid, _ := hex.DecodeString("8394c8f03e515708")
	for _, c := range []struct {
		version     uint32
		key, iv, hp string
	}{
		{quicV1, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
		{quicV2, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"},
	} {
		key, iv, hp, err := initialSecrets(c.version, dcid)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(key) != c.key || hex.EncodeToString(iv) != c.iv || hex.EncodeToString(hp) != c.hp {
			t.Errorf("version %#x: key %x iv %x hp %x", c.version, key, iv, hp)
		}
	}
	if _, _, _, err := initialSecrets(0x12345678, dcid); err == nil {
		t.Error("unknown version accepted")
	}
}

// packet builds the plugin's view of an IPv4 TCP (proto 6, with sequence
// number seq) or UDP (proto 17) packet carrying payload.
func packet(proto uint8, dir uint8, seq uint32, payload []byte) *flow.Packet {
	l4 := 20
	if proto == 17 {
		l4 = 8
	}
	ip := make([]byte, 20+l4, 20+l4+len(payload))
	ip[0] = 0x45
	total := 20 + l4 + len(payload)
	binary.BigEndian.PutUint16(ip[2:], uint16(total))
	ip[9] = proto
	if proto == 6 {
		binary.BigEndian.PutUint32(ip[24:], seq)
		ip[32] = 5 << 4
	}
	ip = append(ip, payload...)
	return &flow.Packet{
		Packet: &decode.Packet{IPVersion: 4, Protocol: proto, IP: ip,
			IPSize: uint16(total), TransportSize: uint16(total - 20), PayloadSize: uint16(len(payload))},
		Direction: dir,
	}
}

// feed runs packets through a fresh plugin as one flow and returns its
// udps.ja4 value.
func feed(t *testing.T, j *JA4, proto uint8, pkts []*flow.Packet) Fingerprint {
	t.Helper()
	f := &flow.Flow{Protocol: proto, UDPS: &flow.UDPS{}}
	for i, p := range pkts {
		f.BidirectionalPackets = uint64(i + 1)
		if i == 0 {
			j.OnInit(p, f)
		} else {
			j.OnUpdate(p, f)
		}
	}
	j.OnExpire(f)
	if len(j.flows) != 0 {
		t.Errorf("%d flows still tracked after expiry", len(j.flows))
	}
	get := func(n string) string { v, _ := f.UDPS.Get(n); return v.String }
	return Fingerprint{get(Name), get(Raw), get(Original), get(RawOriginal)}
}

func withTransport(fp Fingerprint, t Transport) Fingerprint {
	set := func(s string) string { return string(t) + s[1:] }
	return Fingerprint{set(fp.JA4), set(fp.Raw), set(fp.Original), set(fp.RawOriginal)}
}

// TestTCPReassembly splits the ClientHello over two TLS records and three
// segments, delivered out of order with a retransmission, after a SOCKS-like
// exchange and with reverse-direction packets interleaved.
func TestTCPReassembly(t *testing.T) {
	msg := clientHello()
	rec := func(b []byte) []byte { return append([]byte{22, 3, 1, byte(len(b) >> 8), byte(len(b))}, b...) }
	stream := append(rec(msg[:100]), rec(msg[100:])...)
	var isn uint32 = 0xfffffff0 // the sequence numbers wrap inside the hello
	s1, s2, s3 := stream[:50], stream[50:200], stream[200:]
	pkts := []*flow.Packet{
		packet(6, 0, isn-9, nil), // SYN
		packet(6, 1, 7, nil),
		packet(6, 0, isn-8, []byte{5, 1, 0, 0, 0, 0, 0, 0}), // SOCKS-like greeting
		packet(6, 1, 8, []byte{5, 0}),
		packet(6, 0, isn, s1),
		packet(6, 0, isn+200, s3),
		packet(6, 1, 10, []byte{22, 3, 3, 0, 1, 2}), // server data
		packet(6, 0, isn, s1[:10]),                  // retransmission
		packet(6, 0, isn+50, s2),
	}
	if got := feed(t, &JA4{}, 6, pkts); got != specWant {
		t.Errorf("got  %+v\nwant %+v", got, specWant)
	}
	// Without the middle segment there is no fingerprint.
	if got := feed(t, &JA4{}, 6, append(pkts[:8:8], packet(6, 0, isn+300, []byte{1}))); got.JA4 != "" {
		t.Errorf("incomplete hello fingerprinted: %+v", got)
	}
	// Past MaxPackets nothing is examined.
	if got := feed(t, &JA4{MaxPackets: 8}, 6, pkts); got.JA4 != "" {
		t.Errorf("packet 9 examined with MaxPackets 8: %+v", got)
	}
}

// sealInitial builds a client Initial packet (RFC 9001 section 5) with
// dcid in its header, carrying frames, padded to 1200 bytes, protected with
// the keys of keyDCID.
func sealInitial(t *testing.T, version uint32, keyDCID, dcid []byte, pn uint32, frames []byte) []byte {
	t.Helper()
	k, err := newInitialKeys(version, keyDCID)
	if err != nil {
		t.Fatal(err)
	}
	typ := byte(0)
	if version == quicV2 {
		typ = 1
	}
	hdr := []byte{0xc0 | typ<<4 | 3}
	hdr = binary.BigEndian.AppendUint32(hdr, version)
	hdr = append(append(hdr, byte(len(dcid))), dcid...)
	hdr = append(hdr, 4, 9, 9, 9, 9, 0) // SCID, empty token
	payload := append([]byte(nil), frames...)
	if n := 1200 - len(hdr) - 2 - 4 - 16 - len(payload); n > 0 {
		payload = append(payload, make([]byte, n)...)
	}
	length := 4 + len(payload) + 16
	hdr = append(hdr, 0x40|byte(length>>8), byte(length))
	pnOff := len(hdr)
	hdr = binary.BigEndian.AppendUint32(hdr, pn)
	var nonce [12]byte
	copy(nonce[:], k.iv[:])
	for i := range 4 {
		nonce[11-i] ^= byte(pn >> (8 * i))
	}
	pkt := k.aead.Seal(append([]byte(nil), hdr...), nonce[:], payload, hdr)
	var mask [16]byte
	k.hp.Encrypt(mask[:], pkt[pnOff+4:pnOff+20])
	pkt[0] ^= mask[0] & 0x0f
	for i := range 4 {
		pkt[pnOff+i] ^= mask[1+i]
	}
	return pkt
}

func cryptoFrame(off int, data []byte) []byte {
	b := []byte{0x06, 0x80 | byte(off>>24), byte(off >> 16), byte(off >> 8), byte(off), 0x40 | byte(len(data)>>8), byte(len(data))}
	return append(b, data...)
}

// TestQUICReassembly splits the ClientHello over three Initial packets
// whose CRYPTO frames come out of order, the first one coalesced with a
// 0-RTT packet, the last one with a new DCID (as after the server's
// Initial); a truncated Initial, a server Initial and a short header packet
// are interleaved.
func TestQUICReassembly(t *testing.T) {
	msg := clientHello()
	a, b, c := msg[:60], msg[60:200], msg[200:]
	for _, version := range []uint32{quicV1, quicV2, quicDraft29} {
		dcid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
		p1 := sealInitial(t, version, dcid, dcid, 1, cryptoFrame(60, b))
		p2 := sealInitial(t, version, dcid, dcid, 2, append([]byte{0x01, 0x00}, cryptoFrame(200, c)...))
		// The client switched DCID after the server's Initial; the keys
		// stay those of the first DCID.
		p3 := sealInitial(t, version, dcid, []byte{8, 8, 8, 8}, 3, cryptoFrame(0, a))
		zeroRTT := []byte{0xd0 | 1, 0, 0, 0, 1, 0, 0, 2, 0xaa, 0xbb}
		zeroRTT[1], zeroRTT[2], zeroRTT[3], zeroRTT[4] = byte(version>>24), byte(version>>16), byte(version>>8), byte(version)
		server := sealInitial(t, version, []byte{7, 7}, []byte{9, 9, 9, 9}, 0, cryptoFrame(0, []byte{2, 0, 0, 1, 0}))
		pkts := []*flow.Packet{
			packet(17, 0, 0, p1[:600]), // truncated: ignored
			packet(17, 0, 0, append(p1, zeroRTT...)),
			packet(17, 1, 0, server),
			packet(17, 0, 0, p2),
			packet(17, 1, 0, []byte{0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9}),
			packet(17, 0, 0, p3),
		}
		want := withTransport(specWant, QUIC)
		if got := feed(t, &JA4{}, 17, pkts); got != want {
			t.Errorf("version %#x: got %+v\nwant %+v", version, got, want)
		}
	}
}

// TestDTLSReassembly splits a DTLS ClientHello into three fragments, two
// of them in one datagram, delivered out of order.
func TestDTLSReassembly(t *testing.T) {
	body := clientHelloBody(true)
	n := len(body)
	frag := func(off, end int) []byte {
		h := []byte{1, byte(n >> 16), byte(n >> 8), byte(n), 0, 0,
			byte(off >> 16), byte(off >> 8), byte(off), byte((end - off) >> 16), byte((end - off) >> 8), byte(end - off)}
		h = append(h, body[off:end]...)
		rec := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0}
		return append(be16(rec, len(h)), h...)
	}
	pkts := []*flow.Packet{
		packet(17, 0, 0, frag(100, n)),
		packet(17, 0, 0, append(frag(0, 40), frag(40, 100)...)),
	}
	// supported_versions says 0x0304 in the example: the version is "13".
	want := withTransport(specWant, DTLS)
	if got := feed(t, &JA4{}, 17, pkts); got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestAssembler reassembles a stream from random overlapping pieces in
// random order; the first copy of a byte wins.
func TestAssembler(t *testing.T) {
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	seed := uint32(1)
	rnd := func(n int) int { seed = seed*1664525 + 1013904223; return int(seed>>8) % n }
	for round := range 200 {
		var a assembler
		covered := make([]bool, len(data))
		for range 40 {
			lo := rnd(len(data))
			hi := min(len(data), lo+1+rnd(300))
			piece := append([]byte(nil), data[lo:hi]...)
			if round%2 == 1 { // later copies differ: they must not win
				for i := range piece {
					if covered[lo+i] {
						piece[i] ^= 0xff
					}
				}
			}
			if !a.add(lo, piece) {
				t.Fatal("refused")
			}
			for i := lo; i < hi; i++ {
				covered[i] = true
			}
		}
		n := 0
		for n < len(covered) && covered[n] {
			n++
		}
		if got := a.prefix(); len(got) != n || string(got) != string(data[:n]) {
			t.Fatalf("round %d: prefix of %d bytes, want %d", round, len(got), n)
		}
		for i := 1; i < len(a.have); i++ {
			if a.have[i-1].hi >= a.have[i].lo {
				t.Fatalf("spans not disjoint: %v", a.have)
			}
		}
	}
	var a assembler
	if a.add(maxStream-1, []byte{1, 2}) {
		t.Error("piece past maxStream accepted")
	}
	if !a.add(-5, []byte{1, 2, 3, 4, 5, 6}) || string(a.prefix()) != "\x06" {
		t.Errorf("negative offset: %v", a.prefix())
	}
}

func BenchmarkParseClientHello(b *testing.B) {
	msg := clientHello()
	b.ReportAllocs()
	for b.Loop() {
		h, err := ParseClientHello(msg, false)
		if err != nil {
			b.Fatal(err)
		}
		_ = h.Fingerprint(TCP)
	}
}

// BenchmarkNonTLS is the per-packet cost of the plugin on the first
// packets of a TCP flow that carries no TLS.
func BenchmarkNonTLS(b *testing.B) {
	j := &JA4{MaxPackets: 1 << 30}
	p := packet(6, 0, 1, []byte("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"))
	f := &flow.Flow{Protocol: 6, UDPS: &flow.UDPS{}, BidirectionalPackets: 1}
	j.OnInit(p, f)
	b.ReportAllocs()
	for b.Loop() {
		f.BidirectionalPackets++
		j.OnUpdate(p, f)
	}
}

// TestTCPHelloThenOtherRecord: a complete ClientHello followed, in the
// same segment, by another record (TLS 1.3 middlebox compatibility sends a
// ChangeCipherSpec) is fingerprinted.
func TestTCPHelloThenOtherRecord(t *testing.T) {
	msg := clientHello()
	seg := append([]byte{22, 3, 1, byte(len(msg) >> 8), byte(len(msg))}, msg...)
	seg = append(seg, 20, 3, 3, 0, 1, 1)
	if got := feed(t, &JA4{}, 6, []*flow.Packet{packet(6, 0, 1, seg)}); got != specWant {
		t.Errorf("got %+v", got)
	}
	// A handshake record of another type, then a ClientHello later.
	other := []byte{22, 3, 3, 0, 4, 2, 0, 0, 0}
	if got := feed(t, &JA4{}, 6, []*flow.Packet{packet(6, 0, 1, other), packet(6, 0, 10, seg)}); got != specWant {
		t.Errorf("after a non-hello record: %+v", got)
	}
}
