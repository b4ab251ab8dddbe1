package ja4

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
	"github.com/nfstream-go/nfstream/plugins/internal/plugintest"
)

// seeds returns the transport payloads of the first packets of some
// captures of the JA4 and NFStream corpora: TLS, QUIC and DTLS hellos.
func seeds(f *testing.F, proto uint8) [][]byte {
	root := testcorpus.Root(f)
	paths := []string{
		filepath.Join(root, "testdata", "ja4", "pcap", "tls12.pcap"),
		filepath.Join(root, "testdata", "ja4", "pcap", "tls-alpn-h2.pcap"),
		filepath.Join(root, "testdata", "ja4", "pcap", "quic-with-several-tls-frames.pcapng"),
		filepath.Join(root, "testdata", "ja4", "pcap", "chrome-cloudflare-quic-with-secrets.pcapng"),
		testcorpus.Pcap(f, "quic_frags_ch_in_multiple_packets.pcapng"),
		testcorpus.Pcap(f, "dtls_certificate_fragments.pcap"),
		testcorpus.Pcap(f, "quic-29.pcap"),
	}
	var out [][]byte
	for _, p := range paths {
		for _, pkt := range plugintest.Packets(f, p, 12) {
			v := flow.Packet{Packet: &pkt}
			if pl := v.Payload(); pkt.Protocol == proto && len(pl) > 0 {
				out = append(out, append([]byte(nil), pl...))
			}
		}
	}
	return out
}

// hellos returns the handshake messages starting TLS records of seeds.
func hellos(f *testing.F) [][]byte {
	out := [][]byte{clientHello()}
	for _, s := range seeds(f, 6) {
		if startsClientHello(s) {
			out = append(out, s[5:])
		}
	}
	return out
}

func FuzzParseClientHello(f *testing.F) {
	for _, h := range hellos(f) {
		f.Add(h, false)
	}
	f.Add(append([]byte{1, 0, 0, byte(len(clientHelloBody(true)))}, clientHelloBody(true)...), true)
	f.Fuzz(func(t *testing.T, msg []byte, dtls bool) {
		h, err := ParseClientHello(msg, dtls)
		if err != nil {
			return
		}
		for _, tr := range []Transport{TCP, QUIC, DTLS} {
			fp := h.Fingerprint(tr)
			if len(fp.JA4) != 36 || strings.Count(fp.JA4, "_") != 2 || fp.JA4[0] != byte(tr) {
				t.Fatalf("malformed fingerprint %q", fp.JA4)
			}
			if !strings.HasPrefix(fp.Raw, fp.JA4[:11]) || !strings.HasPrefix(fp.RawOriginal, fp.JA4[:11]) || fp.Original[:11] != fp.JA4[:11] {
				t.Fatalf("renderings disagree: %+v", fp)
			}
		}
	})
}

// FuzzTCP feeds data cut into three segments, out of order, to the plugin.
func FuzzTCP(f *testing.F) {
	for _, h := range seeds(f, 6) {
		f.Add(h, uint16(len(h)/3), uint16(2*len(h)/3))
	}
	f.Fuzz(func(t *testing.T, data []byte, c1, c2 uint16) {
		a, b := min(int(c1), len(data)), min(int(c2), len(data))
		if a > b {
			a, b = b, a
		}
		pkts := []*flow.Packet{
			packet(6, 0, 1000, data[:a]),
			packet(6, 0, 1000+uint32(b), data[b:]),
			packet(6, 1, 5, data),
			packet(6, 0, 1000+uint32(a), data[a:b]),
			packet(6, 0, 1000, data),
		}
		feedAny(t, 6, pkts)
	})
}

// FuzzUDP feeds a datagram, then the same with its halves swapped, to the
// plugin (QUIC and DTLS).
func FuzzUDP(f *testing.F) {
	for _, d := range seeds(f, 17) {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		h := len(d) / 2
		swapped := append(append([]byte(nil), d[h:]...), d[:h]...)
		feedAny(t, 17, []*flow.Packet{packet(17, 0, 0, d), packet(17, 1, 0, d), packet(17, 0, 0, swapped)})
	})
}

func feedAny(t *testing.T, proto uint8, pkts []*flow.Packet) {
	j := &JA4{}
	fl := &flow.Flow{Protocol: proto, UDPS: &flow.UDPS{}}
	for i, p := range pkts {
		fl.BidirectionalPackets = uint64(i + 1)
		if i == 0 {
			j.OnInit(p, fl)
		} else {
			j.OnUpdate(p, fl)
		}
	}
	j.OnExpire(fl)
	if v, _ := fl.UDPS.Get(Name); v.Kind != flow.KindNone && len(v.String) != 36 {
		t.Fatalf("malformed fingerprint %q", v.String)
	}
}

// FuzzCryptoFrames parses decrypted Initial payloads (the AEAD keeps the
// fuzzer from reaching them through FuzzUDP).
func FuzzCryptoFrames(f *testing.F) {
	// Real Initial payloads, decrypted.
	for _, d := range seeds(f, 17) {
		h, ok := parseLongHeader(d)
		if !ok || !h.initial {
			continue
		}
		k, err := newInitialKeys(h.version, h.dcid)
		if err != nil {
			continue
		}
		if plain, _, err := k.openInitial(d[:h.end], h, nil); err == nil {
			f.Add(append([]byte(nil), plain...))
		}
	}
	f.Add(append(append([]byte{0x01, 0x00, 0x02, 0x01, 0x02, 0x01, 0x00}, cryptoFrame(0, []byte{1, 0, 0, 1, 9})...), 0x1c, 0, 0, 1, 'x'))
	f.Add(cryptoFrame(5, clientHello()[5:]))
	f.Fuzz(func(t *testing.T, p []byte) {
		var a assembler
		cryptoFrames(p, func(off uint64, data []byte) {
			if off < maxStream {
				a.add(int(off), data)
			}
		})
		if pre := a.prefix(); len(pre) > maxStream {
			t.Fatalf("prefix of %d bytes", len(pre))
		}
	})
}
