package nfstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/capture/afpacket"
	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/dpi"
	"github.com/nfstream-go/nfstream/dpi/ndpi"
	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/filter"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/sysvis"
)

// LiveOptions are the settings of a live capture that NFStream's parameters
// do not cover. The zero value is ready to use.
type LiveOptions struct {
	// Namespace, when not empty, is the path of the network namespace the
	// interface lives in (/run/netns/NAME, /proc/PID/ns/net).
	Namespace string
	// User, when not empty, is the user (name or uid) to switch to once the
	// sockets are open (afpacket.DropPrivileges): the capture then runs
	// without any privilege. The switch is for good, so such a streamer can
	// be iterated only once.
	User string
	// PollTimeout bounds how long a meter waits for packets before it
	// advances its clock on the wall clock; 0 means 100 ms.
	PollTimeout time.Duration
	// Report, when not nil, receives the performance report every
	// Options.PerformanceReport seconds, from a goroutine of its own, instead
	// of having it written to ReportWriter.
	Report func(PerformanceReport)
	// ReportWriter receives the performance report as NFStream prints it,
	// one JSON object per line; nil means standard error.
	ReportWriter io.Writer
	// Started, when not nil, is called once per iteration when the sockets
	// are open and capturing, before any flow is yielded.
	Started func()
}

// PerformanceReport is NFStream's live performance report (behaviour spec,
// section 10.1), plus the ring counters NFStream does not show. All counts
// are cumulative since the iteration started.
type PerformanceReport struct {
	// FlowsExpired is the number of flows yielded so far (the next id).
	FlowsExpired uint64
	// PacketsProcessed is the number of packets metered into flows.
	PacketsProcessed uint64
	// PacketsIgnored is the number of packets the decoder could not use.
	PacketsIgnored uint64
	// PacketsDroppedFilteredByKernel is the number of packets the kernel
	// dropped because a meter's ring was full (libpcap's ps_drop).
	PacketsDroppedFilteredByKernel uint64
	// MetersPacketsProcessingBalance is PacketsProcessed per meter.
	MetersPacketsProcessingBalance []uint64
	// SystemVisibilityMethod is the process attribution method
	// (system_visibility_mode 1; see sysvis.Table.Method), "" when off.
	// Not part of the JSON line.
	SystemVisibilityMethod string
	// KernelPackets is the number of packets the sockets accepted, drops
	// included (libpcap's ps_recv); KernelFreezes the number of times a
	// ring was full.
	KernelPackets, KernelFreezes uint64
}

// AppendJSON appends the report as NFStream prints it (Python's json.dumps:
// NFStream's five keys in its order, ", " and ": " separators), without a
// newline.
func (r *PerformanceReport) AppendJSON(b []byte) []byte {
	b = append(b, `{"flows_expired": `...)
	b = strconv.AppendUint(b, r.FlowsExpired, 10)
	b = append(b, `, "packets_processed": `...)
	b = strconv.AppendUint(b, r.PacketsProcessed, 10)
	b = append(b, `, "packets_ignored": `...)
	b = strconv.AppendUint(b, r.PacketsIgnored, 10)
	b = append(b, `, "packets_dropped_filtered_by_kernel": `...)
	b = strconv.AppendUint(b, r.PacketsDroppedFilteredByKernel, 10)
	b = append(b, `, "meters_packets_processing_balance": [`...)
	for i, n := range r.MetersPacketsProcessingBalance {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendUint(b, n, 10)
	}
	return append(b, "]}"...)
}

// defaultLivePollTimeout is LiveOptions.PollTimeout's default.
const defaultLivePollTimeout = 100 * time.Millisecond

// wallClockLag is how far behind the wall clock a quiet meter sets its
// clock: packets still in a ring block the kernel has not handed over yet
// (at most about two block timeouts old) must not be older than the meter
// clock, or they would be clamped.
const wallClockLag = 3 * afpacket.DefaultBlockTimeout

// flowQueueSize is the capacity of the queue from the meters to the
// consumer, NFStream's.
const flowQueueSize = 32767

// meterCounters are one meter's counters, on a cache line of their own.
type meterCounters struct {
	records, ignored, processed, clamped atomic.Uint64
	_                                    [32]byte
}

// LiveStreamer captures a network interface and yields flows, with one
// meter per kernel fanout socket (Linux AF_PACKET; other systems return
// afpacket.ErrNotSupported when iterated).
//
// Flows, like Streamer.Flows, runs one iteration at a time. Counters,
// Kernel, Meters, Schema, Columns and DPIUnavailable may be called from
// any goroutine, also during an iteration.
type LiveStreamer struct {
	iface  string
	opts   Options
	live   LiveOptions
	meters int
	schema export.Schema
	dpiOff error

	flows   atomic.Uint64
	evicted atomic.Uint64
	stats   []meterCounters

	mu        sync.Mutex
	socks     []*afpacket.Socket // of the current or last iteration
	sysMethod string             // system visibility method of the current or last iteration
}

// NewLive validates the options and returns a streamer over the network
// interface iface. Nothing is opened until iteration.
//
// The live parameters of Options apply: PromiscuousMode, SnapshotLength,
// SocketBufferSize (the ring size of each meter's socket), BPFFilter
// (attached to the sockets), NMeters (resolved as for files: 0 picks one
// per usable CPU, at most 8; with several meters every plugin must be a
// flow.Cloner, each meter getting its own clone) and PerformanceReport.
// SystemVisibilityMode 1 attributes each flow to the local process owning
// its socket (live_sysvis.go); it is refused with an error naming
// system_visibility_mode off Linux, without root (or CAP_SYS_PTRACE) and
// together with LiveOptions.User.
func NewLive(iface string, opts Options, live LiveOptions) (*LiveStreamer, error) {
	var errs []error
	if err := opts.Validate(); err != nil {
		errs = append(errs, err)
	}
	if iface == "" {
		errs = append(errs, &OptionError{Name: "source", Value: `""`, Want: "the name of a network interface"})
	} else if live.Namespace == "" {
		if _, err := net.InterfaceByName(iface); err != nil {
			errs = append(errs, &OptionError{Name: "source", Value: iface, Want: "a capture file or the name of a network interface (" + err.Error() + ")"})
		}
	}
	if err := checkSystemVisibility(&opts, &live); err != nil {
		errs = append(errs, err)
	}
	if live.PollTimeout < 0 || (live.PollTimeout > 0 && live.PollTimeout < time.Millisecond) {
		errs = append(errs, &OptionError{Name: "poll_timeout", Value: live.PollTimeout, Want: "0 (100ms) or at least 1ms"})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if opts.BPFFilter != "" {
		if _, err := filter.NewSet(opts.BPFFilter, opts.SnapshotLength); err != nil {
			return nil, &OptionError{Name: "bpf_filter", Value: fmt.Sprintf("%q", opts.BPFFilter), Want: err.Error()}
		}
	}
	meters, err := opts.meters(false)
	if err != nil {
		return nil, err
	}
	s := &LiveStreamer{iface: iface, opts: opts, live: live, meters: meters}
	s.stats = make([]meterCounters, s.meters)
	s.schema = export.Schema{
		DecodeTunnels: opts.DecodeTunnels,
		Statistical:   opts.StatisticalAnalysis,
		SPLT:          opts.SPLTAnalysis > 0,
		DPI:           opts.NDissections > 0 && ndpi.Available,

		SystemVisibility: opts.SystemVisibilityMode == 1,
	}
	if opts.NDissections > 0 && !ndpi.Available {
		s.dpiOff = dpi.ErrUnavailable
	}
	return s, nil
}

// Interface is the name of the captured interface.
func (s *LiveStreamer) Interface() string { return s.iface }

// Meters is the number of meters (and sockets) an iteration runs.
func (s *LiveStreamer) Meters() int { return s.meters }

// Schema says which column groups the flows carry.
func (s *LiveStreamer) Schema() export.Schema { return s.schema }

// Columns returns the output columns in NFStream's order.
func (s *LiveStreamer) Columns() []export.Column { return s.schema.Columns() }

// DPIUnavailable returns why the application columns are missing although
// n_dissections > 0 (a build without nDPI), or nil.
func (s *LiveStreamer) DPIUnavailable() error { return s.dpiOff }

// Counters returns the counters of the current (or last) iteration.
// Filtered counts packets the BPF filter rejected in user space only
// (see afpacket.Stats.Filtered); the kernel's share is never seen. Damaged
// is always 0. Clamped is updated when a meter is idle and at the end.
func (s *LiveStreamer) Counters() Counters {
	var c Counters
	for i := range s.stats {
		m := &s.stats[i]
		c.Records += m.records.Load()
		c.Ignored += m.ignored.Load()
		c.Processed += m.processed.Load()
		c.Clamped += m.clamped.Load()
	}
	c.Filtered = s.Kernel().Filtered
	c.Flows = s.flows.Load()
	c.Evicted = s.evicted.Load()
	return c
}

// Kernel returns the sockets' counters for the current (or last)
// iteration, summed over the meters.
func (s *LiveStreamer) Kernel() afpacket.Stats {
	s.mu.Lock()
	socks := s.socks
	s.mu.Unlock()
	var total afpacket.Stats
	for _, sock := range socks {
		st, _ := sock.Stats()
		total = total.Add(st)
	}
	return total
}

// Report returns the performance report as of now.
func (s *LiveStreamer) Report() PerformanceReport {
	k := s.Kernel()
	r := PerformanceReport{
		FlowsExpired:                   s.flows.Load(),
		PacketsDroppedFilteredByKernel: k.Drops,
		KernelPackets:                  k.Packets,
		KernelFreezes:                  k.Freezes,
		MetersPacketsProcessingBalance: make([]uint64, len(s.stats)),
		SystemVisibilityMethod:         s.SystemVisibilityMethod(),
	}
	for i := range s.stats {
		p := s.stats[i].processed.Load()
		r.PacketsProcessed += p
		r.PacketsIgnored += s.stats[i].ignored.Load()
		r.MetersPacketsProcessingBalance[i] = p
	}
	return r
}

// Flows captures the interface and yields every flow as it ends, with ids
// 0, 1, 2, ... in the order flows reach the consumer (live output order
// depends on timing: with several meters, on which meter finishes first).
//
// Each meter owns one socket of a kernel fanout group, its flow cache, its
// nDPI module and its plugins. Its clock is the packets' kernel timestamps,
// and also the wall clock when its socket is quiet, so idle flows expire on
// time without traffic (NFStream only expires flows when packets arrive).
//
// Cancelling ctx ends the capture: every meter stops reading, every cached
// flow is finalised (plugins' OnExpire included) and yielded, and the
// iteration ends without an error. (NFStream loses those flows on an
// interrupt.) max_nflows and breaking out of the loop stop at once: cached
// flows are dropped, as offline. A failing socket (the interface went down)
// ends the capture the same way as ctx, then yields the error.
func (s *LiveStreamer) Flows(ctx context.Context) iter.Seq2[*Flow, error] {
	return func(yield func(*Flow, error) bool) {
		r, err := s.start(ctx)
		if err != nil {
			yield(nil, err)
			return
		}
		defer r.stop()
		if s.live.Started != nil {
			s.live.Started()
		}
		for f := range r.out {
			f.ID = s.flows.Add(1) - 1
			if f.ExpirationID == flow.ExpirationEvicted {
				s.evicted.Add(1)
			}
			if r.sys != nil {
				attachProcess(r.sys, f)
			}
			if !yield(f, nil) {
				return
			}
			if s.opts.MaxNFlows > 0 && f.ID+1 >= uint64(s.opts.MaxNFlows) {
				return
			}
		}
		r.wg.Wait()
		if err := r.err(); err != nil {
			yield(nil, err)
		}
	}
}

// liveRun is one iteration's machinery.
type liveRun struct {
	out     chan *Flow
	abort   chan struct{} // closed when the consumer has gone: drop, do not flush
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	reports sync.WaitGroup
	once    sync.Once
	mu      sync.Mutex
	first   error
	sys     *sysvis.Table // system visibility, nil when off
}

func (r *liveRun) fail(err error) {
	r.mu.Lock()
	if r.first == nil {
		r.first = err
	}
	r.mu.Unlock()
	r.cancel()
}

func (r *liveRun) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

// stop ends the iteration: meters that still run drop their flows.
func (r *liveRun) stop() {
	r.once.Do(func() { close(r.abort) })
	r.cancel()
	r.wg.Wait()
	r.reports.Wait()
	if r.sys != nil {
		r.sys.Close()
	}
}

// start opens the sockets, drops privileges, sets the meters up and starts
// them.
func (s *LiveStreamer) start(ctx context.Context) (*liveRun, error) {
	for i := range s.stats {
		m := &s.stats[i]
		m.records.Store(0)
		m.ignored.Store(0)
		m.processed.Store(0)
		m.clamped.Store(0)
	}
	s.flows.Store(0)
	s.evicted.Store(0)
	s.mu.Lock()
	s.socks = nil
	s.sysMethod = ""
	s.mu.Unlock()

	poll := s.live.PollTimeout
	if poll == 0 {
		poll = defaultLivePollTimeout
	}
	socks, err := afpacket.OpenGroup(afpacket.Config{
		Interface:      s.iface,
		Namespace:      s.live.Namespace,
		SnapshotLength: s.opts.SnapshotLength,
		Promiscuous:    s.opts.PromiscuousMode,
		RingSize:       s.opts.SocketBufferSize,
		Filter:         s.opts.BPFFilter,
		PollTimeout:    poll,
	}, s.meters)
	if err != nil {
		return nil, err
	}
	closeAll := func() {
		for _, sock := range socks {
			sock.Close()
		}
	}
	if s.live.User != "" {
		if err := afpacket.DropPrivileges(s.live.User); err != nil {
			closeAll()
			return nil, err
		}
	}
	base := flow.Config{
		IdleTimeoutMs:       uint64(s.opts.IdleTimeout.Milliseconds()),
		ActiveTimeoutMs:     uint64(s.opts.ActiveTimeout.Milliseconds()),
		AccountingMode:      s.opts.AccountingMode,
		StatisticalAnalysis: s.opts.StatisticalAnalysis,
		SPLTAnalysis:        s.opts.SPLTAnalysis,
		MaxFlows:            meterCap(s.opts.MaxTrackedFlows, s.meters),
	}
	cfgs := make([]flow.Config, s.meters)
	engines := make([]dpi.Engine, s.meters)
	closeEngines := func() {
		for _, e := range engines {
			if e != nil {
				e.Close()
			}
		}
	}
	for i := range cfgs {
		cfg := base
		cfg.Plugins = s.opts.Plugins
		if i > 0 && len(s.opts.Plugins) > 0 {
			// Each meter its own instances (NewLive checked they are
			// Cloners).
			cfg.Plugins = make([]flow.Plugin, len(s.opts.Plugins))
			for j, p := range s.opts.Plugins {
				cfg.Plugins[j] = p.(flow.Cloner).Clone()
			}
		}
		if s.schema.DPI {
			// One at a time: nDPI's module setup is not known to be safe
			// to run concurrently.
			e, err := ndpi.New()
			if err != nil {
				closeEngines()
				closeAll()
				return nil, fmt.Errorf("nDPI: %w", err)
			}
			engines[i] = e
			cfg.Dissector, err = dpi.NewDissector(e, s.opts.NDissections, len(cfg.Plugins) > 0)
			if err != nil {
				closeEngines()
				closeAll()
				return nil, err
			}
		}
		cfgs[i] = cfg
	}
	sys, err := s.startSystemVisibility()
	if err != nil {
		closeEngines()
		closeAll()
		return nil, err
	}
	s.mu.Lock()
	s.socks = socks
	s.mu.Unlock()

	runCtx, cancel := context.WithCancel(ctx)
	r := &liveRun{out: make(chan *Flow, flowQueueSize), abort: make(chan struct{}), cancel: cancel, sys: sys}
	for i := range socks {
		r.wg.Go(func() {
			if err := s.meter(runCtx, r, i, socks[i], cfgs[i], engines[i]); err != nil {
				r.fail(err)
			}
		})
	}
	go func() {
		r.wg.Wait()
		close(r.out)
	}()
	if n := s.opts.PerformanceReport; n > 0 {
		r.reports.Go(func() { s.reportEvery(runCtx, time.Duration(n)*time.Second) })
	}
	return r, nil
}

// meter runs one meter until ctx is done, the consumer has gone or the
// socket fails.
func (s *LiveStreamer) meter(ctx context.Context, r *liveRun, i int, sock *afpacket.Socket, cfg flow.Config, engine dpi.Engine) (err error) {
	st := &s.stats[i]
	emit := func(f *Flow) {
		select {
		case r.out <- f:
		case <-r.abort:
		}
	}
	m := flow.NewMeter(cfg, emit)
	defer func() {
		select {
		case <-r.abort: // max_nflows reached or the loop was left: drop
		default:
			m.Flush()
		}
		st.clamped.Store(m.Clamped)
		for _, pl := range cfg.Plugins {
			pl.Cleanup()
		}
		if engine != nil {
			engine.Close()
		}
		sock.Close()
		if err != nil {
			err = fmt.Errorf("meter %d: %w", i, err)
		}
	}()
	var (
		rec  capture.Record
		pkt  decode.Packet
		dec  = decode.Decoder{DecodeTunnels: s.opts.DecodeTunnels}
		done = ctx.Done()
		lag  = uint64(wallClockLag.Milliseconds())
	)
	for n := 0; ; n++ {
		if n&63 == 0 {
			select {
			case <-done:
				return nil
			case <-r.abort:
				return nil
			default:
			}
		}
		if err := sock.NextTimeout(&rec); err != nil {
			if err != afpacket.ErrTimeout {
				return err
			}
			// A quiet socket: move the clock on with the wall clock,
			// which may expire idle flows (the idle scan of spec 5.6).
			if now := uint64(time.Now().UnixMilli()); now > lag && now-lag > m.Tick() {
				m.Other(now - lag)
			}
			st.clamped.Store(m.Clamped)
			n = -1 // check ctx before waiting again
			continue
		}
		st.records.Add(1)
		pkt.TimeMs = rec.TimeMs()
		if !dec.Decode(rec.Data, rec.WireLen, rec.LinkType, &pkt) {
			st.ignored.Add(1)
			continue
		}
		st.processed.Add(1)
		m.Process(&pkt)
	}
}

// reportEvery delivers the performance report every period until ctx is
// done.
func (s *LiveStreamer) reportEvery(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	w := s.live.ReportWriter
	if w == nil {
		w = os.Stderr
	}
	var line []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r := s.Report()
		if s.live.Report != nil {
			s.live.Report(r)
			continue
		}
		line = append(r.AppendJSON(line[:0]), '\n')
		w.Write(line) // a report that cannot be written is lost, capture goes on
	}
}
