package export

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nfstream-go/nfstream/flow"
)

// Writer writes flows to one output in one format. Write is called for each
// flow in order; Close must be called at the end: it finishes the output
// (buffered lines, the Parquet footer) and closes the files the Writer
// opened, but not an io.Writer given to New. A Writer is used by one
// goroutine; after an error from Write, only Close may be called.
//
// The columns are fixed at the first flow (NFStream's rule): the base
// columns the Writer was made with, then that flow's udps.<name> columns
// (see UDPSColumns), then selected and anonymised as the Options say. When
// no flow is written, the output has the base columns: a CSV header line, a
// Parquet file with the schema and no row, an empty JSON Lines file.
type Writer interface {
	Write(f *flow.Flow) error
	Close() error
}

// Format is an output format.
type Format uint8

// The formats. The zero Format means "from the file name" (see Create).
const (
	FormatCSV     Format = iota + 1 // NFStream's to_csv, with RFC 4180 quoting
	FormatParquet                   // Apache Parquet, native column types
	FormatJSONL                     // JSON Lines: one object per flow
)

var formatNames = [...]string{FormatCSV: "csv", FormatParquet: "parquet", FormatJSONL: "jsonl"}

// String returns the format's name: "csv", "parquet" or "jsonl".
func (f Format) String() string {
	if int(f) < len(formatNames) && formatNames[f] != "" {
		return formatNames[f]
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// Ext returns the file name extension of the format, such as ".parquet".
func (f Format) Ext() string { return "." + f.String() }

// ErrFormat is wrapped by the errors about unknown formats.
var ErrFormat = errors.New("unknown output format")

// ParseFormat returns the format named name: csv, parquet or jsonl (also
// ndjson), in any case.
func ParseFormat(name string) (Format, error) {
	switch strings.ToLower(name) {
	case "csv":
		return FormatCSV, nil
	case "parquet", "pq":
		return FormatParquet, nil
	case "jsonl", "ndjson":
		return FormatJSONL, nil
	}
	return 0, fmt.Errorf("%w %q: want csv, parquet or jsonl", ErrFormat, name)
}

// FormatOf returns the format a file name's extension names (.csv, .parquet
// or .pq, .jsonl or .ndjson, in any case); ok is false for other names.
func FormatOf(path string) (f Format, ok bool) {
	ext := filepath.Ext(path)
	if ext == "" {
		return 0, false
	}
	f, err := ParseFormat(ext[1:])
	return f, err == nil
}

// DefaultRowGroupRows is the number of rows per Parquet row group when
// Options.RowGroupRows is 0. A row group is what a Parquet writer holds in
// memory, so it bounds the writer's memory whatever the number of flows.
const DefaultRowGroupRows = 64 << 10

// Options configure a Writer. The zero value writes every column, without
// anonymisation, to one output; the format then comes from the file name.
type Options struct {
	// Format of the output. Zero: Create takes it from the file name's
	// extension (CSV when the name has none); New writes CSV.
	Format Format
	// Columns lists the columns to write, in this order; nil writes every
	// column in NFStream's order. Names are NFStream's; "udps.<name>" names
	// a plugin's value, written as None (an empty field, null) for flows
	// that do not have it.
	Columns []string
	// Anonymize lists columns whose values are replaced by keyed BLAKE2b
	// tokens (see Anonymizer); they become string columns.
	Anonymize []string
	// Key keys the anonymisation, 1 to 64 bytes: the same key gives the
	// same tokens in every run. Nil draws a random key for this Writer, as
	// NFStream does for every export.
	Key []byte
	// FlowsPerFile starts a new file every FlowsPerFile flows (Create
	// only); 0 writes one file. File k is named by inserting ".k" before the
	// extension: flows.csv gives flows.0.csv, flows.1.csv, ...
	FlowsPerFile int
	// RotateFiles, with FlowsPerFile, numbers the files k mod RotateFiles,
	// overwriting them cyclically so at most RotateFiles files exist; 0
	// never reuses a name. NFStream's rotate_files.
	RotateFiles int
	// RowGroupRows is the number of flows per Parquet row group; 0 means
	// DefaultRowGroupRows.
	RowGroupRows int
}

// ErrOptions is wrapped by every error Options.Validate returns.
var ErrOptions = errors.New("invalid export option")

// Validate checks the options against the base columns a Writer would be
// made with and returns every problem, joined, each wrapping ErrOptions.
func (o *Options) Validate(base []Column) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrOptions}, args...)...))
	}
	if o.Format != 0 && (int(o.Format) >= len(formatNames) || formatNames[o.Format] == "") {
		bad("format %d is not csv, parquet or jsonl", o.Format)
	}
	if o.FlowsPerFile < 0 {
		bad("flows_per_file %d: want 0 (one file) or more", o.FlowsPerFile)
	}
	if o.RotateFiles < 0 {
		bad("rotate_files %d: want 0 (no rotation) or more", o.RotateFiles)
	}
	if o.RowGroupRows < 0 {
		bad("row group length %d: want 0 (default) or more", o.RowGroupRows)
	}
	if len(o.Key) > KeySize {
		bad("anonymisation key of %d bytes: BLAKE2b takes at most %d", len(o.Key), KeySize)
	}
	known := make(map[string]bool, len(base))
	for _, c := range base {
		known[c.Name] = true
	}
	valid := func(name string) bool { return known[name] || isUDPSName(name) }
	selected := make(map[string]bool, len(o.Columns))
	for _, name := range o.Columns {
		switch {
		case !valid(name):
			bad("no column %q (the columns are: %s)", name, strings.Join(Names(base), ","))
		case selected[name]:
			bad("column %q selected twice", name)
		}
		selected[name] = true
	}
	seen := make(map[string]bool, len(o.Anonymize))
	for _, name := range o.Anonymize {
		switch {
		case !valid(name):
			bad("cannot anonymise %q: no such column", name)
		case o.Columns != nil && !selected[name]:
			bad("cannot anonymise %q: it is not among the selected columns", name)
		case seen[name]:
			bad("column %q to anonymise given twice", name)
		}
		seen[name] = true
	}
	return errors.Join(errs...)
}

func isUDPSName(name string) bool {
	return strings.HasPrefix(name, "udps.") && len(name) > len("udps.")
}

// ChunkPath returns the name of file k of a chunked output (see
// Options.FlowsPerFile): path with ".k" inserted before its extension, or
// appended when it has none. NFStream replaces every "csv" in the path,
// directories included; this replaces only at the extension.
func ChunkPath(path string, k int) string {
	ext := filepath.Ext(path)
	if strings.ContainsAny(ext, `/\`) {
		ext = ""
	}
	return path[:len(path)-len(ext)] + "." + strconv.Itoa(k) + ext
}

// New returns a Writer of one stream to w (FlowsPerFile must be 0). Close
// flushes but does not close w.
func New(w io.Writer, base []Column, opts Options) (Writer, error) {
	if opts.Format == 0 {
		opts.Format = FormatCSV
	}
	if err := opts.Validate(base); err != nil {
		return nil, err
	}
	if opts.FlowsPerFile > 0 {
		return nil, fmt.Errorf("%w: flows_per_file needs files: use Create", ErrOptions)
	}
	o, err := newOutput(base, opts)
	if err != nil {
		return nil, err
	}
	o.open = func(int) (io.Writer, io.Closer, error) { return w, nil, nil }
	if err := o.next(); err != nil {
		return nil, err
	}
	return o, nil
}

// Create returns a Writer to the file path, or to a series of files when
// opts.FlowsPerFile > 0 (see ChunkPath). The format is opts.Format, or else
// the one path's extension names (CSV when it has no extension); an
// extension that names no format is an error. The first file is created at
// once, so a bad path fails here rather than after reading the captures;
// each later one when its first flow comes.
func Create(path string, base []Column, opts Options) (Writer, error) {
	if opts.Format == 0 {
		f, ok := FormatOf(path)
		switch {
		case ok:
			opts.Format = f
		case filepath.Ext(path) == "":
			opts.Format = FormatCSV
		default:
			return nil, fmt.Errorf("%w: the extension of %s names no format (.csv, .parquet, .jsonl); give the format", ErrFormat, path)
		}
	}
	if err := opts.Validate(base); err != nil {
		return nil, err
	}
	o, err := newOutput(base, opts)
	if err != nil {
		return nil, err
	}
	o.open = func(k int) (io.Writer, io.Closer, error) {
		name := path
		if opts.FlowsPerFile > 0 {
			if opts.RotateFiles > 0 {
				k %= opts.RotateFiles
			}
			name = ChunkPath(path, k)
		}
		f, err := os.Create(name)
		if err != nil {
			return nil, nil, err
		}
		return f, f, nil
	}
	if err := o.next(); err != nil {
		return nil, err
	}
	return o, nil
}

// encoder writes rows of fixed columns in one format.
type encoder interface {
	Write(f *flow.Flow) error
	Close() error // flushes; does not close the io.Writer
}

// A Flusher writes out what a Writer has buffered, without closing it.
type Flusher interface {
	Flush() error
}

// Flush writes out the lines buffered by a CSV or JSON Lines output (a
// live capture's flows should not wait for 256 KiB of them). Parquet has
// nothing it can write before a row group is complete: Flush does nothing
// there.
func (o *output) Flush() error {
	if o.err != nil {
		return o.err
	}
	if fl, ok := o.enc.(Flusher); ok {
		if err := fl.Flush(); err != nil {
			o.err = err
			return err
		}
	}
	return nil
}

// batchEncoding is implemented by encoders whose output for a flow
// depends only on the flow and the (final) columns: CSV and JSON Lines
// (a line) and Parquet (a row). Background then encodes batches of flows
// on several goroutines and writes them in order.
type batchEncoding interface {
	batchEncoder() batchEncoder
	writeBatch(j *encJob) error
}

// batchEncoder returns a batch encoder for one goroutine, or nil when
// flows must be written one by one: before the first flow (it fixes the
// columns), with anonymised columns (the Anonymizer is not safe for
// concurrent use), or with several files.
func (o *output) batchEncoder() batchEncoder {
	if o.lay == nil || o.enc == nil || o.err != nil || o.anon != nil || o.opts.FlowsPerFile > 0 {
		return nil
	}
	if be, ok := o.enc.(batchEncoding); ok {
		return be.batchEncoder()
	}
	return nil
}

// writeBatch writes a job encoded by batchEncoder functions.
func (o *output) writeBatch(j *encJob) error {
	if o.err != nil {
		return o.err
	}
	o.n += len(j.flows)
	if err := o.enc.(batchEncoding).writeBatch(j); err != nil {
		o.err = err
		return err
	}
	return nil
}

// output is the Writer New and Create return: it fixes the columns at the
// first flow and starts a new file every FlowsPerFile flows.
type output struct {
	base []Column
	opts Options
	anon *Anonymizer
	lay  *layout // nil until the first flow (or Close without flows)

	open   func(k int) (io.Writer, io.Closer, error)
	w      io.Writer
	closer io.Closer
	enc    encoder
	k      int // index of the current file
	n      int // flows in the current file
	err    error
}

func newOutput(base []Column, opts Options) (*output, error) {
	o := &output{base: base, opts: opts}
	if len(opts.Anonymize) > 0 {
		a, err := NewAnonymizer(opts.Key)
		if err != nil {
			return nil, err
		}
		o.anon = a
	}
	return o, nil
}

// next opens file o.k (the encoder comes when the layout is known).
func (o *output) next() error {
	w, c, err := o.open(o.k)
	if err != nil {
		return err
	}
	o.w, o.closer, o.n = w, c, 0
	return nil
}

func (o *output) Write(f *flow.Flow) error {
	if o.err != nil {
		return o.err
	}
	if o.lay == nil {
		o.lay = resolve(o.base, f, &o.opts, o.anon)
	}
	if o.opts.FlowsPerFile > 0 && o.n == o.opts.FlowsPerFile {
		if err := o.finish(); err != nil {
			o.err = err
			return err
		}
		o.k++
		if err := o.next(); err != nil {
			o.err = err
			return err
		}
	}
	if o.enc == nil {
		o.enc = o.newEncoder()
	}
	o.n++
	if err := o.enc.Write(f); err != nil {
		o.err = err
		return err
	}
	return nil
}

func (o *output) newEncoder() encoder {
	switch o.opts.Format {
	case FormatParquet:
		return newParquet(o.w, o.lay, o.opts.RowGroupRows)
	case FormatJSONL:
		return newJSONL(o.w, o.lay)
	}
	c := NewCSV(o.w, o.lay.cols)
	c.fixed = true
	return c
}

// finish closes the current file's encoder and file.
func (o *output) finish() error {
	if o.enc == nil {
		o.enc = o.newEncoder() // no flow: a file with the columns and no row
	}
	err := o.enc.Close()
	o.enc = nil
	if o.closer != nil {
		if cerr := o.closer.Close(); err == nil {
			err = cerr
		}
		o.closer = nil
	}
	return err
}

func (o *output) Close() error {
	if o.w == nil {
		return o.err
	}
	if o.lay == nil {
		o.lay = resolve(o.base, nil, &o.opts, o.anon)
	}
	err := o.finish()
	o.w = nil
	if o.err != nil {
		return o.err
	}
	return err
}

// layout is the final column set of an output.
type layout struct {
	cols []Column
	// udps[i] is, for a UDPS column, the kind of its value in the first
	// flow (KindNone when that flow has none): it types the Parquet column.
	udps []flow.Kind
}

// resolve builds the layout from the base columns and the first flow (nil
// when there is none).
func resolve(base []Column, first *flow.Flow, opts *Options, anon *Anonymizer) *layout {
	all := base
	if first != nil {
		all = WithUDPS(base, first)
	}
	cols := all
	if opts.Columns != nil {
		cols = make([]Column, 0, len(opts.Columns))
		for _, name := range opts.Columns {
			c, ok := find(all, name)
			if !ok { // a udps name the first flow does not have (Validate ensures it)
				c = udpsColumn(strings.TrimPrefix(name, "udps."))
			}
			cols = append(cols, c)
		}
	} else {
		cols = append([]Column(nil), all...)
	}
	for _, name := range opts.Anonymize {
		for i := range cols {
			if cols[i].Name == name {
				cols[i] = anon.Column(cols[i])
			}
		}
	}
	lay := &layout{cols: cols, udps: make([]flow.Kind, len(cols))}
	for i, c := range cols {
		if c.Kind == UDPS && first != nil {
			lay.udps[i] = c.UDPS(first).Kind
		}
	}
	return lay
}

func find(cols []Column, name string) (Column, bool) {
	for _, c := range cols {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// udpsColumn reads the plugin value name (None when a flow lacks it).
func udpsColumn(name string) Column {
	return Column{Name: "udps." + name, Kind: UDPS, UDPS: func(f *flow.Flow) flow.Value {
		if f.UDPS == nil {
			return flow.Value{}
		}
		v, _ := f.UDPS.Get(name)
		return v
	}}
}
