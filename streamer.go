// Package nfstream turns packet captures into labelled bidirectional flows
// with NFStream's semantics: same flows, same columns, same values.
//
// The pipeline runs one way: capture (files, records) → decode (headers) →
// flow (the flow table and features, with dpi for nDPI labels) → export
// (columns and file formats). This package wires the stages together:
//
//	s, err := nfstream.New([]string{"capture.pcap"}, nfstream.DefaultOptions())
//	for f, err := range s.Flows(ctx) { ... }
package nfstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime"
	"sync/atomic"

	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/dpi"
	"github.com/nfstream-go/nfstream/dpi/ndpi"
	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/filter"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/shard"
)

// Flow is a finished flow; see package flow for its fields.
type Flow = flow.Flow

// Counters describe what happened to the input of one iteration.
type Counters struct {
	Records   uint64 // records read from the sources
	Filtered  uint64 // records rejected by the BPF filter
	Ignored   uint64 // records the decoder could not use (NFStream's "ignored")
	Processed uint64 // records metered into flows
	Clamped   uint64 // processed records whose time went backwards (clamped, spec 5.1)
	Damaged   uint64 // damage reports from the readers (truncated or corrupt records)
	Flows     uint64 // flows emitted
	Evicted   uint64 // flows emitted early because max_tracked_flows was reached (expiration_id 2)
}

// meterCap is each meter's share of max_tracked_flows (0: no cap).
func meterCap(maxTracked, meters int) int {
	if maxTracked == 0 {
		return 0
	}
	return max(maxTracked/max(meters, 1), 1)
}

// Streamer reads captures and yields flows. Its methods are not safe for
// concurrent use; one iteration runs at a time.
type Streamer struct {
	sources []string
	opts    Options
	schema  export.Schema
	dpiOff  error // why DPI is off although NDissections > 0, if it is
	nMeters int   // n_meters resolved
	sharded bool  // tests: run the sharded pipeline even with one meter
	dpiMode int   // tests: 0 automatic, 1 one meter's nDPI on its goroutine, 2 on one of its own

	warnings []string // about the options, from New
	counters Counters
	damage   []error
	source   *progressSource // of the current iteration
	progress progress        // read by Progress from any goroutine
}

// progress is what the reading goroutine publishes for Progress.
type progress struct {
	records atomic.Uint64
	bytes   atomic.Int64
}

// Progress returns how many records and bytes of the input the current
// iteration has read so far (updated every 256 records). Unlike the other
// methods it may be called from any goroutine, e.g. by a progress bar.
func (s *Streamer) Progress() (records uint64, bytes int64) {
	return s.progress.records.Load(), s.progress.bytes.Load()
}

// ErrLinkType is wrapped by the warning Damage reports, once per file and
// link type, when records have a data-link type the decoder does not know:
// they are counted as ignored, as NFStream does silently.
var ErrLinkType = errors.New("link type not decoded")

// LinkTypeError is that warning: File (a source name) holds records of
// LinkType from record Packet on.
type LinkTypeError struct {
	File     string
	Packet   uint64
	LinkType uint16
}

func (e *LinkTypeError) Error() string {
	return fmt.Sprintf("%s: packet %d: link type %d is not decoded; its packets are counted as ignored", e.File, e.Packet, e.LinkType)
}

func (e *LinkTypeError) Unwrap() error { return ErrLinkType }

// progressSource decorates the capture source to publish progress, and
// notes the records of link types the decoder does not know.
type progressSource struct {
	capture.Source
	p       *progress
	n       uint64
	names   []string
	last    uint32 // link type of the last record checked + 1 (0: none)
	file    int    // its file
	unknown []error
}

func (ps *progressSource) Next(rec *capture.Record) error {
	err := ps.Source.Next(rec)
	if err == nil {
		ps.n++
		if uint32(rec.LinkType)+1 != ps.last || rec.File != ps.file {
			ps.checkLinkType(rec)
		}
	}
	if ps.n&255 == 0 || err != nil {
		ps.p.records.Store(ps.n)
		if bc, ok := ps.Source.(capture.ByteCounter); ok {
			ps.p.bytes.Store(bc.BytesRead())
		}
	}
	return err
}

// checkLinkType notes rec's link type when the decoder does not know it,
// once per file and link type (at most maxDamageReports in all).
func (ps *progressSource) checkLinkType(rec *capture.Record) {
	ps.last, ps.file = uint32(rec.LinkType)+1, rec.File
	if decode.LinkTypeSupported(rec.LinkType) || len(ps.unknown) >= maxDamageReports {
		return
	}
	name := "-"
	if rec.File >= 0 && rec.File < len(ps.names) {
		name = ps.names[rec.File]
	}
	for _, e := range ps.unknown {
		if le := e.(*LinkTypeError); le.File == name && le.LinkType == rec.LinkType {
			return
		}
	}
	ps.unknown = append(ps.unknown, &LinkTypeError{File: name, Packet: rec.Number, LinkType: rec.LinkType})
}

// openSources opens the input, publishing progress. The source is kept
// in s.source until the iteration ends.
func (s *Streamer) openSources() (capture.Source, error) {
	s.progress.records.Store(0)
	s.progress.bytes.Store(0)
	src, err := capture.OpenFiles(s.sources)
	if err != nil {
		return nil, err
	}
	s.source = &progressSource{Source: src, p: &s.progress, names: s.sources}
	return s.source, nil
}

// maxDamageReports bounds how many damage reports are kept for Damage.
const maxDamageReports = 100

// New validates the options and returns a streamer over the given capture
// files, read in order as one stream ("-" is standard input). Files are not
// opened until iteration.
func New(sources []string, opts Options) (*Streamer, error) {
	if len(sources) == 0 {
		return nil, &OptionError{Name: "source", Value: "(none)", Want: "give at least one capture file, or - for standard input"}
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.BPFFilter != "" {
		if _, err := filter.NewSet(opts.BPFFilter, 262144); err != nil {
			return nil, &OptionError{Name: "bpf_filter", Value: fmt.Sprintf("%q", opts.BPFFilter), Want: err.Error()}
		}
	}
	n, err := opts.meters(true)
	if err != nil {
		return nil, err
	}
	sysCols, warning := offlineSystemVisibility(&opts, len(sources))
	s := &Streamer{sources: append([]string(nil), sources...), opts: opts, nMeters: n}
	if warning != "" {
		s.warnings = append(s.warnings, warning)
	}
	s.schema = export.Schema{
		DecodeTunnels: opts.DecodeTunnels,
		Statistical:   opts.StatisticalAnalysis,
		SPLT:          opts.SPLTAnalysis > 0,
		DPI:           opts.NDissections > 0 && ndpi.Available,

		SystemVisibility: sysCols,
	}
	if opts.NDissections > 0 && !ndpi.Available {
		s.dpiOff = dpi.ErrUnavailable
	}
	return s, nil
}

// Schema says which column groups the flows carry.
func (s *Streamer) Schema() export.Schema { return s.schema }

// Columns returns the output columns in NFStream's order.
func (s *Streamer) Columns() []export.Column { return s.schema.Columns() }

// DPIUnavailable returns why the application columns are missing although
// n_dissections > 0 (a build without nDPI), or nil.
func (s *Streamer) DPIUnavailable() error { return s.dpiOff }

// Warnings returns what New had to say about the options, as NFStream's
// own text (NFStream prints it; a library leaves that to its caller, and
// the command prints it unless quiet): e.g. system_visibility_mode switched
// to 0 for a single file.
func (s *Streamer) Warnings() []string { return s.warnings }

// Meters returns the number of meters an iteration runs: Options.NMeters,
// or the automatic choice when it is 0.
func (s *Streamer) Meters() int { return s.nMeters }

// Counters returns the counters of the last (or current) iteration. With
// several meters they advance batch by batch during the iteration; at its
// end (also after max_nflows or a break) they are those of one meter.
func (s *Streamer) Counters() Counters { return s.counters }

// Damage returns the damage reports (*capture.FormatError) of the last
// iteration, at most the first 100.
func (s *Streamer) Damage() []error { return s.damage }

// Flows reads the sources and yields every flow in NFStream's emission
// order, with ids 0, 1, 2, ... Each iteration starts from scratch.
//
// With several meters (Meters() > 1) the flows, their order and their ids
// are still exactly those of one meter (docs/sharding.md); only application
// labels that depend on nDPI's per-engine caches may differ. The loop body
// runs on the calling goroutine, the meters and the reader on their own.
// Plugins' OnExpire is then called on the meter's goroutine when the flow
// ends there, which for a flow NFStream emits late (an idle flow behind an
// older active one) is before its turn to be yielded.
//
// A non-nil error is yielded once, with a nil flow, and ends the iteration:
// a source that cannot be opened or is not a capture, or ctx's error. Before
// such an error every flow still cached is flushed and yielded, so nothing
// read is lost (NFStream drops them). Damaged records do not end the
// iteration: they are counted and reported by Damage. Breaking out of the
// loop stops reading at once.
func (s *Streamer) Flows(ctx context.Context) iter.Seq2[*Flow, error] {
	return func(yield func(*Flow, error) bool) {
		s.counters = Counters{}
		s.damage = nil
		stopped := false
		emit := func(f *Flow) {
			if stopped {
				return
			}
			f.ID = s.counters.Flows
			s.counters.Flows++
			if f.ExpirationID == flow.ExpirationEvicted {
				s.counters.Evicted++
			}
			if !yield(f, nil) {
				stopped = true
				return
			}
			if s.opts.MaxNFlows > 0 && s.counters.Flows >= uint64(s.opts.MaxNFlows) {
				stopped = true
			}
		}
		err := s.run(ctx, emit, &stopped)
		if s.source != nil { // the reader has returned
			s.damage = append(s.damage, s.source.unknown...)
			s.source = nil
		}
		if err != nil && !stopped {
			yield(nil, err)
		}
	}
}

func (s *Streamer) run(ctx context.Context, emit func(*Flow), stopped *bool) error {
	defer func() { // always, however the stream ends (NFStream never calls it)
		for _, pl := range s.opts.Plugins {
			pl.Cleanup()
		}
	}()
	cfg := flow.Config{
		IdleTimeoutMs:       uint64(s.opts.IdleTimeout.Milliseconds()),
		ActiveTimeoutMs:     uint64(s.opts.ActiveTimeout.Milliseconds()),
		AccountingMode:      s.opts.AccountingMode,
		StatisticalAnalysis: s.opts.StatisticalAnalysis,
		SPLTAnalysis:        s.opts.SPLTAnalysis,
		Plugins:             s.opts.Plugins,
		MaxFlows:            meterCap(s.opts.MaxTrackedFlows, s.nMeters),
	}
	if s.nMeters > 1 || s.sharded {
		return s.runSharded(ctx, cfg, emit, stopped)
	}
	if s.schema.DPI {
		engine, err := ndpi.New()
		if err != nil {
			return fmt.Errorf("nDPI: %w", err)
		}
		defer engine.Close()
		cfg.Dissector, err = dpi.NewDissector(engine, s.opts.NDissections, len(s.opts.Plugins) > 0)
		if err != nil {
			return err
		}
		// nDPI on a goroutine of its own, overlapping with reading and
		// metering (same output; plugins see labels as they change, so
		// they keep it synchronous).
		cfg.AsyncDPI = len(s.opts.Plugins) == 0 && (s.dpiMode == 2 || s.dpiMode == 0 && runtime.GOMAXPROCS(0) > 1)
	}
	var filters *filter.Set
	if s.opts.BPFFilter != "" {
		var err error
		if filters, err = filter.NewSet(s.opts.BPFFilter, 262144); err != nil {
			return err
		}
	}
	src, err := s.openSources()
	if err != nil {
		return err
	}
	defer src.Close()

	meter := flow.NewMeter(cfg, emit)
	defer meter.Close() // before the engine is closed (defers run last in, first out)
	dec := decode.Decoder{DecodeTunnels: s.opts.DecodeTunnels}
	var (
		rec capture.Record
		pkt decode.Packet
		c   = &s.counters
	)
	finish := func(err error) error {
		if !*stopped {
			meter.Flush()
		}
		c.Clamped = meter.Clamped
		return err
	}
	for !*stopped {
		if c.Records&1023 == 0 && ctx.Err() != nil {
			return finish(ctx.Err())
		}
		if err := src.Next(&rec); err != nil {
			if err == io.EOF {
				break
			}
			var oe *capture.OpenError
			var fe *capture.FormatError
			if !errors.As(err, &oe) && errors.As(err, &fe) {
				c.Damaged++
				if len(s.damage) < maxDamageReports {
					s.damage = append(s.damage, err)
				}
				continue
			}
			return finish(err)
		}
		c.Records++
		if filters != nil {
			ok, err := filters.Match(rec.LinkType, rec.Data, rec.WireLen)
			if err != nil {
				return finish(err)
			}
			if !ok {
				c.Filtered++
				continue
			}
		}
		pkt.TimeMs = rec.TimeMs()
		if !dec.Decode(rec.Data, rec.WireLen, rec.LinkType, &pkt) {
			c.Ignored++
			continue
		}
		c.Processed++
		meter.Process(&pkt)
	}
	return finish(nil)
}

// runSharded is run with several meters (package internal/shard): one
// reader, s.nMeters meters each with its own nDPI engine and plugin
// instances, and the merge on this goroutine.
func (s *Streamer) runSharded(ctx context.Context, base flow.Config, emit func(*Flow), stopped *bool) error {
	n := s.nMeters
	plugins := make([][]flow.Plugin, n)
	plugins[0] = s.opts.Plugins
	for i := 1; i < n; i++ {
		for _, p := range s.opts.Plugins {
			plugins[i] = append(plugins[i], p.(flow.Cloner).Clone()) // checked by New
		}
	}
	defer func() {
		for _, pl := range plugins[1:] {
			for _, p := range pl {
				p.Cleanup()
			}
		}
	}()
	newMeter := func(i int) (flow.Config, func(), error) {
		cfg := base
		cfg.Plugins = plugins[i]
		if !s.schema.DPI {
			return cfg, nil, nil
		}
		engine, err := ndpi.New()
		if err != nil {
			return cfg, nil, fmt.Errorf("nDPI: %w", err)
		}
		if cfg.Dissector, err = dpi.NewDissector(engine, s.opts.NDissections, len(cfg.Plugins) > 0); err != nil {
			engine.Close()
			return cfg, nil, err
		}
		return cfg, func() { engine.Close() }, nil
	}
	var filters *filter.Set
	if s.opts.BPFFilter != "" {
		var err error
		if filters, err = filter.NewSet(s.opts.BPFFilter, 262144); err != nil {
			return err
		}
	}
	src, err := s.openSources()
	if err != nil {
		return err
	}
	defer src.Close()
	in := shard.Input{
		Source:    src,
		Filter:    filters,
		Decoder:   decode.Decoder{DecodeTunnels: s.opts.DecodeTunnels},
		MaxDamage: maxDamageReports,
	}
	cfg := shard.Config{
		Meters:   n,
		NewMeter: newMeter,
		CopyIP:   s.schema.DPI || len(s.opts.Plugins) > 0,
	}
	progress := func(rc shard.Counters, damage []error) {
		c := &s.counters
		c.Records, c.Filtered, c.Ignored, c.Processed, c.Clamped, c.Damaged =
			rc.Records, rc.Filtered, rc.Ignored, rc.Processed, rc.Clamped, rc.Damaged
		s.damage = append(s.damage, damage...)
	}
	return shard.Run(ctx, in, cfg, func(f *Flow) bool { emit(f); return !*stopped }, progress)
}
