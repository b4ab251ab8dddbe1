package afpacket_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/capture/afpacket"
)

// Capture DNS traffic on eth0 with two sockets that share the flows, drop
// root, and read until a socket fails. (Needs CAP_NET_RAW and an eth0; not run
// by go test.)
func Example() {
	socks, err := afpacket.OpenGroup(afpacket.Config{
		Interface:      "eth0",
		SnapshotLength: 1536,
		Promiscuous:    true,
		Filter:         "udp port 53",
	}, 2)
	if err != nil {
		log.Fatal(err)
	}
	if err := afpacket.DropPrivileges("nobody"); err != nil {
		log.Fatal(err)
	}
	failed := make(chan error, len(socks))
	for i, s := range socks {
		go func() {
			defer s.Close()
			var rec capture.Record
			for {
				err := s.NextTimeout(&rec)
				switch {
				case errors.Is(err, afpacket.ErrTimeout):
					continue // quiet: a chance to do periodic work
				case err != nil:
					failed <- err // the interface went down, or it was closed
					return
				}
				// rec.Data is valid until the next call on s.
				fmt.Printf("socket %d: %d bytes at %d.%09d\n", i, rec.WireLen, rec.Sec, rec.Nsec)
			}
		}()
	}
	log.Print(<-failed)
}
