//go:build cgo

package filter_test

import (
	"fmt"

	"github.com/nfstream-go/nfstream/filter"
)

func Example() {
	// One expression, compiled on demand for each link type met.
	set, err := filter.NewSet("udp port 53", 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	// An IPv4/UDP datagram from port 53, as raw IP (DLT_RAW, 12) and
	// behind an Ethernet header (DLT_EN10MB, 1).
	ip := []byte{
		0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
		0, 53, 0x9c, 0x40, 0, 8, 0, 0, // UDP 53 → 40000
	}
	eth := append([]byte{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0x00}, ip...)
	for _, r := range []struct {
		linkType uint16
		data     []byte
	}{{12, ip}, {1, eth}, {1, eth[:30]}} {
		ok, err := set.Match(r.linkType, r.data, uint32(len(r.data)))
		fmt.Println(r.linkType, len(r.data), ok, err)
	}

	_, err = filter.Compile("my filter", 1, 0)
	fmt.Println(err)
	// Output:
	// 12 28 true <nil>
	// 1 42 true <nil>
	// 1 30 false <nil>
	// bpf_filter "my filter": can't parse filter expression: syntax error
}
