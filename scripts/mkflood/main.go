// Command mkflood writes a SYN-flood capture for the memory-bound test of
// --max-tracked-flows (see bench/flood.sh and docs/limits.md): N one-packet
// flows from spoofed sources, plus one legitimate connection with a packet
// every 1000 flood packets.
//
//	go run ./scripts/mkflood -n 5000000 /tmp/flood.pcap
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/nfstream-go/nfstream/internal/pcapgen"
)

func main() {
	n := flag.Int("n", 5_000_000, "one-packet flows in the flood")
	gap := flag.Uint64("gap-us", 10, "microseconds between packets (10: 5M flows in 50 s, all within the 120 s idle timeout)")
	flag.Parse()
	if flag.NArg() != 1 || *n < 0 {
		fmt.Fprintln(os.Stderr, "usage: mkflood [-n FLOWS] [-gap-us US] OUT.pcap")
		os.Exit(2)
	}
	f, err := os.Create(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkflood:", err)
		os.Exit(1)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	packets, err := pcapgen.Flood(pcapgen.NewWriter(bw, 1, false), *n, *gap)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkflood:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d packets, %d flood flows + 1 keeper flow\n", flag.Arg(0), packets, *n)
}
