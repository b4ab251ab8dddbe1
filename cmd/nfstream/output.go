package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/progress"
)

// outputUsage documents the flags of outputFlags, for the manual.
const outputUsage = `    -o, --output FILE
        Write to FILE instead of standard output ("-"). The format follows
        the extension: .csv, .parquet, .jsonl (a name without one is CSV).
    --format csv|parquet|jsonl
        The output format, whatever the file name (default: from -o; CSV on
        standard output). CSV is NFStream's to_csv with standard quoting;
        Parquet has native types (list columns for SPLT) for pandas, polars
        and DuckDB; JSON Lines has one object per flow. See docs/exports.md.
    --columns A,B,...
        Write only these columns, in this order (NFStream's names; udps.NAME
        for a plugin value).
    --flows-per-file N
        Start a new file every N flows (needs -o): flows.csv gives
        flows.0.csv, flows.1.csv, ... (default 0: one file).
    --rotate-files R
        With --flows-per-file, reuse the names of the first R files
        cyclically, so at most R files exist (default 0: no rotation).
    --anonymize A,B,...
        Replace the values of these columns (e.g. src_ip,dst_ip) by
        128-hex-digit keyed BLAKE2b tokens, as NFStream's
        columns_to_anonymize. Equal values get equal tokens.
    --anonymize-key KEY, --anonymize-key-file FILE
        The key (1 to 64 bytes; a file's final newline is dropped), else the
        environment variable NFSTREAM_ANON_KEY. The same key gives the same
        tokens in every run, so exports can be joined. Without a key a random
        one is drawn and forgotten (NFStream's behaviour).
`

// anonKeyEnv names the environment variable holding the anonymisation key.
const anonKeyEnv = "NFSTREAM_ANON_KEY"

// outputFlags choose where and how flows are written.
type outputFlags struct {
	// progress, when set, gives the records and bytes read so far (safe to
	// call from the progress bar's goroutine).
	progress func() (records uint64, bytes int64)

	format       string
	columns      string
	flowsPerFile int
	rotateFiles  int
	anonymize    string
	anonKey      string
	anonKeyFile  string
}

// register adds the flags (except -o and -q, which main owns) to fs.
func (o *outputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.format, "format", "", "")
	fs.StringVar(&o.columns, "columns", "", "")
	fs.IntVar(&o.flowsPerFile, "flows-per-file", 0, "")
	fs.IntVar(&o.rotateFiles, "rotate-files", 0, "")
	fs.StringVar(&o.anonymize, "anonymize", "", "")
	fs.StringVar(&o.anonKey, "anonymize-key", "", "")
	fs.StringVar(&o.anonKeyFile, "anonymize-key-file", "", "")
}

// errUsage marks errors in the flags (exit status 2).
var errUsage = errors.New("invalid option")

// options turns the flags into export options; getenv reads the
// environment. notes are warnings for standard error.
func (o *outputFlags) options(path string, cols []export.Column, getenv func(string) string) (opts export.Options, notes []string, err error) {
	usage := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
	}
	if o.format != "" {
		if opts.Format, err = export.ParseFormat(o.format); err != nil {
			return opts, nil, usage("--format: %v", err)
		}
	}
	opts.Columns = splitList(o.columns)
	opts.Anonymize = splitList(o.anonymize)
	opts.FlowsPerFile, opts.RotateFiles = o.flowsPerFile, o.rotateFiles
	if opts.FlowsPerFile > 0 && path == "" {
		return opts, nil, usage("--flows-per-file needs -o FILE")
	}
	if opts.RotateFiles > 0 && opts.FlowsPerFile == 0 {
		notes = append(notes, "--rotate-files has no effect without --flows-per-file")
	}

	var key []byte
	switch {
	case o.anonKey != "" && o.anonKeyFile != "":
		return opts, nil, usage("give --anonymize-key or --anonymize-key-file, not both")
	case o.anonKey != "":
		key = []byte(o.anonKey)
	case o.anonKeyFile != "":
		b, err := os.ReadFile(o.anonKeyFile)
		if err != nil {
			return opts, nil, usage("--anonymize-key-file: %v", err)
		}
		key = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		if len(key) == 0 {
			return opts, nil, usage("--anonymize-key-file %s is empty", o.anonKeyFile)
		}
	default:
		key = []byte(getenv(anonKeyEnv))
	}
	if len(key) > export.KeySize {
		return opts, nil, usage("the anonymisation key has %d bytes; BLAKE2b keys have at most %d", len(key), export.KeySize)
	}
	switch {
	case len(opts.Anonymize) == 0 && (o.anonKey != "" || o.anonKeyFile != ""):
		notes = append(notes, "an anonymisation key is given but no --anonymize columns: nothing is anonymised")
	case len(opts.Anonymize) > 0 && len(key) == 0:
		notes = append(notes, fmt.Sprintf("anonymising %s with a random key: the tokens match no other run "+
			"(give --anonymize-key, --anonymize-key-file or %s to join runs)", strings.Join(opts.Anonymize, ","), anonKeyEnv))
	}
	if len(opts.Anonymize) > 0 {
		opts.Key = key
	}
	if err := opts.Validate(cols); err != nil {
		return opts, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return opts, notes, nil
}

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// sink is where main writes flows: the export Writer, and the progress
// bar's flow count.
type sink struct {
	w       export.Writer
	bar     *progress.Bar
	counter *progress.Counter
}

func (s *sink) Write(f *flow.Flow) error {
	if s.counter != nil {
		s.counter.AddFlows(1)
	}
	return s.w.Write(f)
}

// barSource feeds the progress bar: flows from the sink's counter, records
// and bytes from the streamer when it reports them.
type barSource struct {
	c    *progress.Counter
	read func() (records uint64, bytes int64)
}

func (b barSource) Snapshot() progress.Snapshot {
	snap := b.c.Snapshot()
	if b.read != nil {
		r, n := b.read()
		snap.Packets, snap.BytesRead = int64(r), n
	}
	return snap
}

// Close stops the progress bar and finishes the output.
func (s *sink) Close() error {
	if s.bar != nil {
		s.bar.Stop()
	}
	return s.w.Close()
}

// openOutput makes the sink main writes flows to: the file path ("" or "-"
// for stdout) in the format and with the columns the flags say, and a progress
// bar on stderr when stderr is a terminal and quiet is off. On failure it
// prints the problem and returns main's exit status (2 for bad flags, 1
// when the file cannot be created).
func (o *outputFlags) openOutput(path string, sources []string, cols []export.Column, stdout, stderr io.Writer, quiet bool) (*sink, int) {
	if path == "-" {
		path = ""
	}
	opts, notes, err := o.options(path, cols, os.Getenv)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, "nfstream:", line)
		}
		return nil, 2
	}
	if !quiet {
		for _, n := range notes {
			fmt.Fprintln(stderr, "nfstream: warning:", n)
		}
	}
	var w export.Writer
	if path == "" {
		if f, ok := stdout.(*os.File); ok && opts.Format == export.FormatParquet {
			if isTerm, _ := progress.Terminal(f); isTerm {
				fmt.Fprintln(stderr, "nfstream: not writing Parquet to a terminal; give -o FILE or redirect standard output")
				return nil, 2
			}
		}
		w, err = export.New(stdout, cols, opts)
	} else {
		w, err = export.Create(path, cols, opts)
	}
	if err != nil {
		fmt.Fprintln(stderr, "nfstream:", err)
		if errors.Is(err, export.ErrFormat) || errors.Is(err, export.ErrOptions) {
			return nil, 2
		}
		return nil, 1
	}
	s := &sink{w: w}
	if f, ok := stderr.(*os.File); ok && !quiet {
		if isTerm, width := progress.Terminal(f); isTerm {
			s.counter = &progress.Counter{}
			if total := progress.TotalSize(sources); total >= 0 {
				s.counter.SetBytesTotal(total)
			}
			s.bar = progress.Start(stderr, barSource{s.counter, o.progress}, width, 250*time.Millisecond)
		}
	}
	return s, 0
}
