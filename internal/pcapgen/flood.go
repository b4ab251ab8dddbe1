package pcapgen

import (
	"net/netip"
)

// FloodKeeper is the one legitimate connection Flood interleaves with the
// flood: 192.168.1.1:5000 → 192.168.1.2:443, TCP, every KeeperEvery
// packets, alternating directions.
const (
	KeeperEvery = 1000
	keeperSrc   = 5000
	keeperDst   = 443
)

// Flood writes a SYN flood as an Ethernet capture: n one-packet TCP flows
// from spoofed sources (10.0.0.0/8, one per flow, counting up) to
// 172.16.0.1 on ports 1-65535, gapUs microseconds apart, starting at
// 2026-01-01, plus one legitimate connection (FloodKeeper) that sends a
// packet after every KeeperEvery flood packets, so an eviction policy can
// be seen to keep a busy flow whole. It returns the number of packets
// written (n + n/KeeperEvery).
func Flood(w *Writer, n int, gapUs uint64) (int, error) {
	const start = 1767225600 * 1_000_000 // 2026-01-01T00:00:00Z in µs
	var (
		mac1    = [6]byte{0x02, 0, 0, 0, 0, 1}
		mac2    = [6]byte{0x02, 0, 0, 0, 0, 2}
		victim  = netip.AddrFrom4([4]byte{172, 16, 0, 1})
		kA, kB  = netip.AddrFrom4([4]byte{192, 168, 1, 1}), netip.AddrFrom4([4]byte{192, 168, 1, 2})
		t       = uint64(start)
		written = 0
	)
	for i := range n {
		src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		frame := Ethernet(mac1, mac2, 0x0800, IP(src, victim, 6, TCP(uint16(40000+i%20000), uint16(1+i%65535), uint32(i), 0, SYN, nil)))
		if err := w.WritePacket(t, frame, 0); err != nil {
			return written, err
		}
		written++
		t += gapUs
		if (i+1)%KeeperEvery == 0 {
			k := (i + 1) / KeeperEvery
			a, b, sp, dp := kA, kB, uint16(keeperSrc), uint16(keeperDst)
			if k%2 == 0 {
				a, b, sp, dp = b, a, dp, sp
			}
			frame := Ethernet(mac1, mac2, 0x0800, IP(a, b, 6, TCP(sp, dp, uint32(k), uint32(k), ACK, []byte("keepalive"))))
			if err := w.WritePacket(t, frame, 0); err != nil {
				return written, err
			}
			written++
		}
	}
	return written, nil
}
