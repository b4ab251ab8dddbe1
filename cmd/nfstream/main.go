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
	"iter"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/plugins"
)

const usage = `NAME
    nfstream - turn packet captures into labelled bidirectional flows

SYNOPSIS
    nfstream [OPTIONS] SOURCE...
    nfstream [OPTIONS] INTERFACE
    nfstream --list-plugins

DESCRIPTION
    nfstream reads one or more capture files (classic pcap or pcapng, any
    link type NFStream knows) as one continuous stream, groups packets into
    bidirectional flows exactly as NFStream does, and writes one CSV row per
    flow with NFStream's columns, names and order (those of to_pandas()).
    Several files are read in the order given, sharing one flow cache and one
    clock. A SOURCE of "-" reads a capture from standard input, so
        tcpdump -i eth0 -w - | nfstream -
    works, as does a named pipe.

    A single SOURCE naming a network interface (and no file of that name)
    captures live from it with AF_PACKET until SIGINT or SIGTERM, then
    writes every flow still in progress. Live capture needs root or the
    CAP_NET_RAW capability (setcap cap_net_raw+eip nfstream); see
    docs/live.md.

    Flows are written to standard output unless -o is given. Warnings, the
    summary of ignored and damaged packets, and errors go to standard error.

OPTIONS
    Flags are NFStreamer's parameters in kebab-case; defaults are NFStream's.

` + outputUsage + streamUsage + `    --decode-tunnels=BOOL
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
    --max-tracked-flows N
        Hold at most N flows in memory (default 0: no cap, as NFStream).
        When a new flow would exceed it, the least recently seen flow is
        ended early with expiration_id 2; the summary counts them. Bounds
        memory under floods and scans (about 300 bytes per flow, plus
        nDPI's state while a flow is dissected).
    --n-meters N
        Number of meters, 0 for automatic (default 0). Files are read once
        and shared out by flow; the output is the same, in the same order,
        for any number of meters. A single meter reading files runs nDPI on
        a thread of its own, so on 2 CPUs the automatic choice is 1.
    --plugin NAME[:PARAM=VALUE,...]
        Enable a built-in plugin (repeat for several; called in that order).
        Its values become udps.<name> columns after the application columns,
        in every output format. Built-ins: splt, flowslicer, dhcp, mdns, ja4.
    --list-plugins
        List the built-in plugins with their parameters and columns, and exit.
    --snapshot-length N, --promiscuous-mode=BOOL, --socket-buffer-size N
        Live capture: bytes kept per packet (default 1536), promiscuous mode
        (default true), ring size in bytes (default 0: automatic). Validated,
        no effect on files (as NFStream).
    --performance-report N
        Live capture: print NFStream's performance line (JSON) on standard
        error every N seconds.
    --user NAME
        Live capture: switch to user NAME once the sockets are open.
    --system-visibility-mode N, --system-visibility-poll-ms N
        Live capture, Linux: 1 adds the pid, name and cgroup of the local
        process owning each flow's socket (eBPF at connect/accept time when
        allowed, else sock_diag and /proc polled every N ms; docs/sysvis.md).
        Ignored with a warning for files, as NFStream does.
    --cpuprofile FILE
        Write a Go CPU profile of the run to FILE (go tool pprof).
    --memprofile FILE
        Write a Go allocation profile of the run to FILE at its end
        (go tool pprof -sample_index=alloc_space nfstream FILE).
    --trace FILE
        Write a Go execution trace of the run to FILE (go tool trace): which
        goroutine ran when, on how many CPUs (docs/performance.md).
    -q, --quiet
        Do not print the summary, the warnings about options, nor the
        progress bar (drawn on standard error when it is a terminal).
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
    nfstream --splt-analysis 20 -o flows.parquet capture.pcap
    nfstream --anonymize src_ip,dst_ip --anonymize-key-file key -o flows.jsonl capture.pcap
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

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// flowSource is what the output loop needs from a file or live streamer.
type flowSource interface {
	Flows(ctx context.Context) iter.Seq2[*nfstream.Flow, error]
	Columns() []export.Column
	DPIUnavailable() error
}

func run(args []string, stdout, stderr io.Writer) int {
	opts := nfstream.DefaultOptions()
	fs := flag.NewFlagSet("nfstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	var (
		output, user, cpuProfile, memProfile, traceFile string
		quiet, listPlugins                              bool
		pluginSpecs                                     stringList
		outFlags                                        outputFlags
		netFlags                                        streamFlags
	)
	fs.StringVar(&output, "o", "", "")
	fs.StringVar(&output, "output", "", "")
	fs.BoolVar(&quiet, "q", false, "")
	fs.BoolVar(&quiet, "quiet", false, "")
	outFlags.register(fs)
	netFlags.register(fs)
	fs.Var(&pluginSpecs, "plugin", "")
	fs.BoolVar(&listPlugins, "list-plugins", false, "")
	fs.StringVar(&user, "user", "", "")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "")
	fs.StringVar(&traceFile, "trace", "", "")
	fs.StringVar(&memProfile, "memprofile", "", "")
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
	fs.IntVar(&opts.MaxTrackedFlows, "max-tracked-flows", opts.MaxTrackedFlows, "")
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
	registry := plugins.Builtins()
	if listPlugins {
		if err := registry.WriteList(stdout); err != nil {
			return 1
		}
		return 0
	}
	if len(sources) == 0 {
		fmt.Fprintln(stderr, "nfstream: no SOURCE given (a capture file, - for standard input, or a network interface); see nfstream --help")
		return 2
	}
	if len(pluginSpecs) > 0 {
		var err error
		if opts.Plugins, err = registry.BuildAll(pluginSpecs); err != nil {
			fmt.Fprintln(stderr, "nfstream: --plugin:", err)
			return 2
		}
	}
	if opts.SPLTAnalysis > 255 && !quiet {
		fmt.Fprintf(stderr, "nfstream: warning: --splt-analysis %d is above 255; long sequences slow metering down\n", opts.SPLTAnalysis)
	}
	stopProfiles, ok := startProfiles(stderr, profiles(cpuProfile, memProfile, traceFile))
	if !ok {
		return 2
	}
	defer stopProfiles()

	iface, live := liveSource(sources)
	if user != "" && !live {
		fmt.Fprintln(stderr, "nfstream: --user only applies to live capture (a SOURCE naming a network interface)")
		return 2
	}
	var (
		src   flowSource
		files *nfstream.Streamer
		cap   *nfstream.LiveStreamer
		err   error
	)
	if live {
		cap, err = nfstream.NewLive(iface, opts, nfstream.LiveOptions{User: user, ReportWriter: stderr})
		src = cap
	} else {
		files, err = nfstream.New(sources, opts)
		src = files
		if err == nil {
			outFlags.progress = files.Progress
		}
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, "nfstream:", line)
		}
		return 2
	}
	if files != nil && !quiet {
		for _, w := range files.Warnings() {
			fmt.Fprintln(stderr, w) // NFStream's own text
		}
	}
	if err := src.DPIUnavailable(); err != nil {
		fmt.Fprintf(stderr, "nfstream: warning: %v; the application columns are left out\n", err)
	}

	out, code := openOutputs(&outFlags, &netFlags, output, sources, src.Columns(), stdout, stderr, quiet, live)
	if code != 0 {
		return code
	}
	switch {
	case !live && regularFiles(sources):
		// Files: format and write on other goroutines, overlapping with
		// metering (CSV and JSON Lines lines are encoded on several).
		out.w = export.Background(out.w, 512)
	default:
		// Live capture, standard input and pipes (tcpdump -w -): flows
		// leave at once, and buffered lines are flushed every second.
		out.w = newTimelyWriter(out.w, flushPeriod)
	}
	var w export.Writer = out
	defer w.Close() // after an early return; the Close below reports errors
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // the first signal flushes the cached flows; a second one kills
	}()

	status := 0
	for f, err := range src.Flows(ctx) {
		if err != nil {
			if errors.Is(err, context.Canceled) {
				fmt.Fprintln(stderr, "nfstream: interrupted: the flows of the packets read so far are written")
			} else {
				fmt.Fprintln(stderr, "nfstream:", err)
			}
			status = 1
			break
		}
		if err := w.Write(f); err != nil {
			fmt.Fprintln(stderr, "nfstream: writing flows:", err)
			return 1
		}
	}
	if err := w.Close(); err != nil {
		fmt.Fprintln(stderr, "nfstream: writing flows:", err)
		return 1
	}
	if live {
		if !quiet {
			c, k := cap.Counters(), cap.Kernel()
			fmt.Fprintf(stderr, "nfstream: %s: %d packets captured, %d metered, %d ignored, %d dropped by the kernel; %d flows\n",
				iface, c.Records, c.Processed, c.Ignored, k.Drops, c.Flows)
		}
		return status
	}
	for _, d := range files.Damage() {
		switch {
		case errors.Is(d, capture.ErrTruncated):
			fmt.Fprintf(stderr, "nfstream: warning: %v (the rest of the input was read)\n", d)
		case errors.Is(d, capture.ErrOverSnapLen):
			fmt.Fprintf(stderr, "nfstream: warning: %v (record skipped, as libpcap does)\n", d)
		case errors.Is(d, nfstream.ErrLinkType):
			fmt.Fprintf(stderr, "nfstream: warning: %v\n", d)
		default:
			fmt.Fprintf(stderr, "nfstream: %v\n", d)
			status = 1
		}
	}
	c := files.Counters()
	if !quiet {
		fmt.Fprintf(stderr, "nfstream: %d packets read, %d metered, %d ignored, %d filtered out, %d damaged, %d clamped (time going backwards); %d flows, %d evicted (max_tracked_flows)\n",
			c.Records, c.Processed, c.Ignored, c.Filtered, c.Damaged, c.Clamped, c.Flows, c.Evicted)
	}
	return status
}

// flushPeriod is how long a flow of a live capture or a pipe may wait in
// the output's buffer.
var flushPeriod = time.Second

// regularFiles reports whether every source is a regular file.
func regularFiles(sources []string) bool {
	for _, name := range sources {
		if st, err := os.Stat(name); name == "-" || err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// liveSource applies NFStream's rule: a single SOURCE that is neither "-"
// nor an existing file but the name of a network interface means live
// capture.
func liveSource(sources []string) (string, bool) {
	if len(sources) != 1 || sources[0] == "-" {
		return "", false
	}
	if _, err := os.Stat(sources[0]); err == nil {
		return "", false
	}
	if _, err := net.InterfaceByName(sources[0]); err != nil {
		return "", false
	}
	return sources[0], true
}
