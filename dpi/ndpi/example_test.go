//go:build cgo && !nondpi

package ndpi_test

import (
	"encoding/binary"
	"fmt"

	"github.com/nfstream-go/nfstream/dpi"
	"github.com/nfstream-go/nfstream/dpi/ndpi"
)

// dnsQuery builds an IPv4/UDP DNS query for name (single label list, type A).
func dnsQuery(labels ...string) []byte {
	var q []byte
	q = append(q, 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // id, RD, 1 question
	for _, l := range labels {
		q = append(q, byte(len(l)))
		q = append(q, l...)
	}
	q = append(q, 0, 0, 1, 0, 1) // root, type A, class IN
	udp := make([]byte, 8, 8+len(q))
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(q)))
	udp = append(udp, q...)
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 192, 168, 1, 2, 192, 168, 1, 1}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	return append(ip, udp...)
}

func Example() {
	engine, err := ndpi.New()
	if err != nil {
		fmt.Println(err) // e.g. a build without cgo: dpi.ErrUnavailable
		return
	}
	defer engine.Close()
	d, err := dpi.NewDissector(engine, 20, false)
	if err != nil {
		fmt.Println(err)
		return
	}

	var fs dpi.FlowState // one per flow, usually inside the flow record
	if err := d.Start(&fs, dnsQuery("www", "example", "com"), 1700000000000); err != nil {
		fmt.Println(err)
		return
	}
	d.Finish(&fs) // the flow expires

	i := fs.Info
	fmt.Println(i.ApplicationName, i.ApplicationCategoryName, i.ApplicationIsGuessed, i.ApplicationConfidence, i.RequestedServerName)
	fmt.Println("live flows:", engine.LiveFlows())
	// Output:
	// DNS Network 0 6 www.example.com
	// live flows: 0
}
