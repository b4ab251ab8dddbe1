// Command nfstream turns packet captures into bidirectional flows with
// NFStream's columns, written as CSV.
//
// Run "nfstream --help" for the manual.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/export"
)

const usage = `NAME
    nfstream - turn packet captures into labelled bidirectional flows

SYNOPSIS
    nfstream [OPTIONS] SOURCE...

DESCRIPTION
    nfstream reads one or more capture files (classic pcap or pcapng, any
    link type NFStream knows) as one continuous stream, groups packets into
    bidirectional flows exactly as NFStream does, and writes one CSV row per
    flow with NFStream's columns, names and order (those of to_pandas()).
    Several files are read in the order given, sharing one flow cache and one
    clock. A SOURCE of "-" reads a capture from standard input, so
        tcpdump -i eth0 -w - | nfstream -
    works, as does a named pipe.

    Flows are written to standard output unless -o is given. Warnings, the
    summary of ignored and damaged packets, and errors go to standard error.

OPTIONS
    Flags are NFStreamer's parameters in kebab-case; defaults are NFStream's.

    -o, --output FILE
        Write the CSV to FILE instead of standard output.
    --decode-tunnels=BOOL
        Decapsulate GTP-U, TZSP and CAPWAP and add the tunnel_id column
        (default true). IP-in-IP is always decapsulated.
    --bpf-filter EXPR
        Keep only packets matching the libpcap filter EXPR (tcpdump syntax).
    --idle-timeout T
        End a flow after T without packets (default 120). T is seconds, or a
        duration such as 500ms or 2m.
    --active-timeout T
        End a flow that has lasted T (default 1800), seconds or a duration.
    --accounting-mode N
        Bytes counted per packet: 0 link layer, 1 IP, 2 transport, 3 payload
        (default 0).
    --n-dissections N
        Packets per flow given to nDPI, 0 to 255 (default 20). 0 turns DPI
        off and removes the application columns.
    --statistical-analysis
        Add the 48 packet size, inter-arrival time and TCP flag features.
    --splt-analysis N
        Add the direction, size and inter-arrival sequences of the first N
        packets of each flow (default 0: none).
    --max-nflows N
        Stop after N flows (default 0: no limit).
    --n-meters N
        Number of meters, 0 for automatic (default 0). This version meters
        with one.
    --snapshot-length N, --promiscuous-mode=BOOL, --socket-buffer-size N,
    --performance-report N, --system-visibility-mode N,
    --system-visibility-poll-ms N
        Live-capture parameters: validated, no effect on files (as NFStream).
    -q, --quiet
        Do not print the summary.
    -h, --help
        Print this manual.

EXIT STATUS
    0   every source was read to its end (a last record cut short is
        reported on standard error and still counts as read);
    1   a source could not be read to its end: it cannot be opened, is not
        a capture, or is damaged (the flows before the damage are written);
    2   invalid options.

EXAMPLES
    nfstream capture.pcap > flows.csv
    nfstream --statistical-analysis --splt-analysis 10 -o flows.csv a.pcap b.pcap
    nfstream --n-dissections 0 --bpf-filter "tcp port 443" capture.pcapng
    python3 -c 'import pandas; print(pandas.read_csv("flows.csv").head())'
`

// timeout parses whole seconds (NFStream's unit) or a Go duration.
type timeout struct{ d *time.Duration }

func (t timeout) String() string {
	if t.d == nil {
		return ""
	}
	return t.d.String()
}

func (t timeout) Set(s string) error {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*t.d = time.Duration(n) * time.Second
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want seconds or a duration such as 90s, 500ms")
	}
	*t.d = d
	return nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts := nfstream.DefaultOptions()
	fs := flag.NewFlagSet("nfstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	var output string
	var quiet bool
	fs.StringVar(&output, "o", "", "")
	fs.StringVar(&output, "output", "", "")
	fs.BoolVar(&quiet, "q", false, "")
	fs.BoolVar(&quiet, "quiet", false, "")
	fs.BoolVar(&opts.DecodeTunnels, "decode-tunnels", opts.DecodeTunnels, "")
	fs.StringVar(&opts.BPFFilter, "bpf-filter", "", "")
	fs.BoolVar(&opts.PromiscuousMode, "promiscuous-mode", opts.PromiscuousMode, "")
	fs.IntVar(&opts.SnapshotLength, "snapshot-length", opts.SnapshotLength, "")
	fs.IntVar(&opts.SocketBufferSize, "socket-buffer-size", opts.SocketBufferSize, "")
	fs.Var(timeout{&opts.IdleTimeout}, "idle-timeout", "")
	fs.Var(timeout{&opts.ActiveTimeout}, "active-timeout", "")
	fs.IntVar(&opts.AccountingMode, "accounting-mode", opts.AccountingMode, "")
	fs.IntVar(&opts.NDissections, "n-dissections", opts.NDissections, "")
	fs.BoolVar(&opts.StatisticalAnalysis, "statistical-analysis", opts.StatisticalAnalysis, "")
	fs.IntVar(&opts.SPLTAnalysis, "splt-analysis", opts.SPLTAnalysis, "")
	fs.IntVar(&opts.NMeters, "n-meters", opts.NMeters, "")
	fs.IntVar(&opts.MaxNFlows, "max-nflows", opts.MaxNFlows, "")
	fs.IntVar(&opts.PerformanceReport, "performance-report", opts.PerformanceReport, "")
	fs.IntVar(&opts.SystemVisibilityMode, "system-visibility-mode", opts.SystemVisibilityMode, "")
	fs.IntVar(&opts.SystemVisibilityPollMs, "system-visibility-poll-ms", opts.SystemVisibilityPollMs, "")

	// Flags and sources may be interleaved: nfstream a.pcap -o out.csv.
	var sources []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		sources = append(sources, rest[0])
		args = rest[1:]
	}
	if len(sources) == 0 {
		fmt.Fprintln(stderr, "nfstream: no SOURCE given (a capture file, or - for standard input); see nfstream --help")
		return 2
	}
	if opts.SPLTAnalysis > 255 && !quiet {
		fmt.Fprintf(stderr, "nfstream: warning: --splt-analysis %d is above 255; long sequences slow metering down\n", opts.SPLTAnalysis)
	}
	s, err := nfstream.New(sources, opts)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, "nfstream:", line)
		}
		return 2
	}
	if err := s.DPIUnavailable(); err != nil {
		fmt.Fprintf(stderr, "nfstream: warning: %v; the application columns are left out\n", err)
	}

	out := stdout
	if output != "" {
		f, err := os.Create(output)
		if err != nil {
			fmt.Fprintln(stderr, "nfstream:", err)
			return 1
		}
		defer f.Close()
		out = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	w := export.NewCSV(out, s.Columns())
	status := 0
	for f, err := range s.Flows(ctx) {
		if err != nil {
			fmt.Fprintln(stderr, "nfstream:", err)
			status = 1
			break
		}
		if err := w.Write(f); err != nil {
			fmt.Fprintln(stderr, "nfstream: writing flows:", err)
			return 1
		}
	}
	if err := w.WriteHeader(); err == nil {
		err = w.Flush()
		if err != nil {
			fmt.Fprintln(stderr, "nfstream: writing flows:", err)
			return 1
		}
	}
	for _, d := range s.Damage() {
		switch {
		case errors.Is(d, capture.ErrTruncated):
			fmt.Fprintf(stderr, "nfstream: warning: %v (the rest of the input was read)\n", d)
		case errors.Is(d, capture.ErrOverSnapLen):
			fmt.Fprintf(stderr, "nfstream: warning: %v (record skipped, as libpcap does)\n", d)
		default:
			fmt.Fprintf(stderr, "nfstream: %v\n", d)
			status = 1
		}
	}
	c := s.Counters()
	if !quiet {
		fmt.Fprintf(stderr, "nfstream: %d packets read, %d metered, %d ignored, %d filtered out, %d damaged; %d flows\n",
			c.Records, c.Processed, c.Ignored, c.Filtered, c.Damaged, c.Flows)
	}
	return status
}
