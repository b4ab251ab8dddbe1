// Command mkdemo writes testdata/demo.pcap, the small capture that `make
// demo` and the tests of a fresh clone use. It is fully synthetic and
// byte-stable: run `go run ./scripts/mkdemo testdata/demo.pcap` to rebuild it.
package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"

	"github.com/nfstream-go/nfstream/internal/pcapgen"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkdemo OUT.pcap")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], Demo(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Demo returns the demo capture's bytes.
func Demo() []byte {
	var buf bytes.Buffer
	w := pcapgen.NewWriter(&buf, 1, false)
	var (
		client  = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
		gateway = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0xfe}
		cIP     = netip.MustParseAddr("192.168.1.10")
		dnsIP   = netip.MustParseAddr("192.168.1.1")
		webIP   = netip.MustParseAddr("93.184.216.34")
		c6      = netip.MustParseAddr("2001:db8::10")
		s6      = netip.MustParseAddr("2001:db8:1::123")
	)
	t := uint64(1_700_000_000_000_000) // µs
	out := func(dt uint64, src, dst [6]byte, ip []byte) {
		t += dt
		et := uint16(0x0800)
		if ip[0]>>4 == 6 {
			et = 0x86DD
		}
		_ = w.WritePacket(t, pcapgen.Ethernet(src, dst, et, ip), 0)
	}
	// DNS lookup of example.org.
	out(0, client, gateway, pcapgen.IP(cIP, dnsIP, 17, pcapgen.UDP(53001, 53, pcapgen.DNSQuery(0x1234, "example.org", netip.Addr{}))))
	out(12_000, gateway, client, pcapgen.IP(dnsIP, cIP, 17, pcapgen.UDP(53, 53001, pcapgen.DNSQuery(0x1234, "example.org", webIP))))
	// An HTTP exchange with example.org.
	req := []byte("GET / HTTP/1.1\r\nHost: example.org\r\nUser-Agent: nfstream-demo/1.0\r\nAccept: */*\r\n\r\n")
	body := "<html><body>hello</body></html>"
	resp := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	cs, ss := uint32(1000), uint32(5000)
	tcp := func(dt uint64, fromClient bool, flags uint8, payload []byte) {
		if fromClient {
			out(dt, client, gateway, pcapgen.IP(cIP, webIP, 6, pcapgen.TCP(40000, 80, cs, ss, flags, payload)))
			cs += uint32(len(payload))
		} else {
			out(dt, gateway, client, pcapgen.IP(webIP, cIP, 6, pcapgen.TCP(80, 40000, ss, cs, flags, payload)))
			ss += uint32(len(payload))
		}
	}
	tcp(3_000, true, pcapgen.SYN, nil)
	cs++
	tcp(25_000, false, pcapgen.SYN|pcapgen.ACK, nil)
	ss++
	tcp(200, true, pcapgen.ACK, nil)
	tcp(150, true, pcapgen.PSH|pcapgen.ACK, req)
	tcp(26_000, false, pcapgen.ACK, nil)
	tcp(1_000, false, pcapgen.PSH|pcapgen.ACK, resp)
	tcp(300, true, pcapgen.ACK, nil)
	tcp(5_000, true, pcapgen.FIN|pcapgen.ACK, nil)
	cs++
	tcp(24_000, false, pcapgen.FIN|pcapgen.ACK, nil)
	ss++
	tcp(200, true, pcapgen.ACK, nil)
	// Three pings to the web server.
	for i := range uint16(3) {
		payload := bytes.Repeat([]byte{byte(i)}, 56)
		out(1_000_000, client, gateway, pcapgen.IP(cIP, webIP, 1, pcapgen.ICMPEcho(8, 7, i, payload)))
		out(25_500, gateway, client, pcapgen.IP(webIP, cIP, 1, pcapgen.ICMPEcho(0, 7, i, payload)))
	}
	// An IPv6 NTP exchange, then silence long enough for an idle expiry.
	ntp := make([]byte, 48)
	ntp[0] = 0x23
	out(500_000, client, gateway, pcapgen.IP(c6, s6, 17, pcapgen.UDP(123, 123, ntp)))
	ntp[0] = 0x24
	out(40_000, gateway, client, pcapgen.IP(s6, c6, 17, pcapgen.UDP(123, 123, ntp)))
	// A second DNS lookup 3 minutes later: the first DNS flow has gone idle.
	out(180_000_000, client, gateway, pcapgen.IP(cIP, dnsIP, 17, pcapgen.UDP(53001, 53, pcapgen.DNSQuery(0x4321, "example.org", netip.Addr{}))))
	out(11_000, gateway, client, pcapgen.IP(dnsIP, cIP, 17, pcapgen.UDP(53, 53001, pcapgen.DNSQuery(0x4321, "example.org", webIP))))
	return buf.Bytes()
}
