package ja4_test

import (
	"testing"

	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
	"github.com/nfstream-go/nfstream/plugins/internal/plugintest"
	"github.com/nfstream-go/nfstream/plugins/ja4"
)

// TestCorpus checks captures of NFStream's corpus that the JA4 project's
// set lacks: ClientHellos split over several QUIC packets or with CRYPTO
// frames out of order, QUIC drafts, DTLS (fragmented too), TLS after
// STARTTLS, TLS over IPv6. The expected values were computed independently
// from tshark 4.0's dissection of each ClientHello (its fields fed to the
// JA4 algorithm), and agree with the plugin.
func TestCorpus(t *testing.T) {
	for _, c := range []struct {
		pcap  string
		flows int // flows with a fingerprint
		src   string
		ja4   string
	}{
		{"quic_frags_ch_in_multiple_packets.pcapng", 1, "[::1]:58822", "q00i0307h4_55b375c5d22e_af0a630e9e67"},
		{"quic_frags_ch_out_of_order_same_packet_craziness.pcapng", 113, "133.205.75.230:56528", "q13d0310h9_55b375c5d22e_b064f0e3421d"},
		{"quic-29.pcap", 1, "10.9.0.1:36588", "q13d0512h9_d55e91d5c3b2_cd318bf3b157"},
		{"quic-28.pcap", 1, "10.9.0.2:60106", "q13d0309h8_55b375c5d22e_f68d9329452a"},
		{"quic-23.pcap", 1, "[2e4a:774d:26fd:7f9b:785b:2d1b:4f8a:63c7]:50339", "q13d0308h2_55b375c5d22e_23ed935430f2"},
		{"quic-mvfst-22.pcap", 1, "10.0.2.15:35601", "q00d0109h5_0f2cb44170f4_01b7bde4a3dd"},
		{"quic_0RTT.pcap", 1, "[::1]:60459", "q00d0310h2_55b375c5d22e_060ec1c6a056"},
		{"dtls.pcap", 1, "192.168.13.203:40739", "dd2i120700_7c0e62f61317_d9dd6182da81"},
		{"dtls2.pcap", 1, "61.68.110.153:53045", "dd1i080000_f3b6e48d6e2b_000000000000"},
		{"dtls_certificate_fragments.pcap", 1, "10.186.198.149:39347", "dd2i800500_9cedc1f1428b_a1e935682795"},
		{"dtls_session_id_and_coockie_both.pcap", 1, "185.196.113.239:50257", "dd2i010000_653ffb6f323e_000000000000"},
		{"smtp-starttls.pcap", 1, "10.0.0.1:57406", "t10i290100_cdba58456bdf_e78b541c01a9"},
		{"http_ipv6.pcap", 6, "[2a00:d40:1:3:7aac:c0ff:fea7:d4c]:37486", "t12d1612h1_94fc43e2fc61_c9eaec7dbab4"},
		{"tls-esni-fuzzed.pcap", 3, "192.168.1.12:49886", "t13i1813h2_29a2cd9e9f10_0d6ff543c596"},
		// An SSLv2-compatible ClientHello: not fingerprinted.
		{"google_ssl.pcap", 0, "", ""},
	} {
		flows := plugintest.Run(t, testcorpus.Pcap(t, c.pcap), flow.Config{Plugins: []flow.Plugin{&ja4.JA4{}}})
		n, found := 0, false
		for _, f := range flows {
			v, _ := f.UDPS.Get(ja4.Name)
			if v.Kind == flow.KindNone {
				continue
			}
			n++
			if src := flowSrc(f); src == c.src {
				found = true
				if v.String != c.ja4 {
					t.Errorf("%s %s: ja4 %s, want %s", c.pcap, src, v.String, c.ja4)
				}
			}
		}
		if n != c.flows || c.src != "" && !found {
			t.Errorf("%s: %d flows fingerprinted (want %d), %s found: %v", c.pcap, n, c.flows, c.src, found)
		}
	}
}
