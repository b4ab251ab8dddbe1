package capture_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/nfstream-go/nfstream/capture"
)

// A classic pcap file of two Ethernet records, the second cut short by the
// end of the file.
func smallCapture() []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 0xa1b2c3d4) // magic: microseconds
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint64(b, 0)     // thiszone, sigfigs
	b = le.AppendUint32(b, 65535) // snaplen
	b = le.AppendUint32(b, 1)     // Ethernet
	for i, sec := range []uint32{1472393122, 1472393123} {
		b = le.AppendUint32(b, sec)
		b = le.AppendUint32(b, 365661)
		b = le.AppendUint32(b, 60) // caplen
		b = le.AppendUint32(b, 60) // len
		b = append(b, make([]byte, 60-i*10)...)
	}
	return b
}

func Example() {
	src, err := capture.NewReader(bytes.NewReader(smallCapture()), "small.pcap")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	var rec capture.Record // reused: Next fills it in place
	for {
		err := src.Next(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			// Damaged input: report and go on, as NFStream does.
			fmt.Println("skipped:", err, "| truncated:", errors.Is(err, capture.ErrTruncated))
			continue
		}
		fmt.Printf("record %d: %d bytes, link type %d, time %d ms\n", rec.Number, len(rec.Data), rec.LinkType, rec.TimeMs())
	}
	// Output:
	// record 1: 60 bytes, link type 1, time 1472393122365 ms
	// skipped: small.pcap: packet 2 (offset 100): record cut short by end of file: 66 of 76 bytes | truncated: true
}
