// Package shard meters one offline input with several flow meters running
// in parallel, and still yields exactly the flows, emission order and ids
// of NFStream's single meter (docs/sharding.md).
//
// The pipeline has three stages, each owned by one goroutine:
//
//	reader ──batches──▶ meter 0..N-1 ──events──▶ merge (the caller)
//
// The reader reads records, filters, decodes each packet in place into a
// batch (copying its IP bytes into the batch when the meters need them),
// applies the single meter's clock (spec 5.1) and scan schedule (spec 5.4)
// over all packets, numbers the packets, and deals each to the meter
// chosen by a symmetric hash of its flow key. Every meter gets every batch,
// with the positions of its own packets. Each meter owns a flow.Meter in
// shard mode (with its own nDPI engine and plugin instances) and reports
// its flows' creations and ends as flow.Events. The merge, run by the
// goroutine that called Run, replays the events in a flow.Order, which
// emits flows in the single meter's order, and recycles the batch.
//
// Queues are bounded (Config.Queue batches in flight) and block: offline
// reading loses nothing, and memory does not grow with the input. After
// warm-up a packet costs no allocation.
package shard

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/bits"

	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/filter"
	"github.com/nfstream-go/nfstream/flow"
)

// Counters describe what the reader did with the input.
type Counters struct {
	Records   uint64 // records read
	Filtered  uint64 // records rejected by the BPF filter
	Ignored   uint64 // records the decoder could not use
	Processed uint64 // records metered
	Clamped   uint64 // metered records whose time went backwards
	Damaged   uint64 // damage reports from the source
}

// Input is what the reader reads. The Source and Filter are used by the
// reader goroutine only, from Run's start to its return.
type Input struct {
	Source  capture.Source
	Filter  *filter.Set // nil: every record
	Decoder decode.Decoder
	// MaxDamage bounds how many damage reports are passed to progress.
	MaxDamage int
}

// Config sets up the meters.
type Config struct {
	// Meters is the number of meters (shards), at least 1.
	Meters int
	// NewMeter returns the configuration of meter i (its own Dissector
	// and plugin instances) and a function releasing what it holds (nil
	// if nothing), called when the meter is done. Both run on meter i's
	// goroutine; an error stops the stream.
	NewMeter func(i int) (cfg flow.Config, release func(), err error)
	// CopyIP keeps each packet's IP bytes for the meters (nDPI and
	// plugins read them). Without it, meters get packet summaries only.
	CopyIP bool
	// BatchPackets is how many packets a batch holds; 0 means
	// DefaultBatchPackets.
	BatchPackets int
	// Queue is how many batches may be in flight (being filled, queued,
	// metered or merged), and how many event lists each meter may have
	// ahead of the merge; 0 means DefaultQueue, at least 2.
	Queue int
}

// Defaults of Config.
const (
	DefaultBatchPackets = 4096
	DefaultQueue        = 4
)

// scanPoint is a packet after which the single meter runs its idle scan.
type scanPoint struct {
	seq    uint64 // the packet's number
	tickMs uint64 // the clock after it
}

// batch is BatchPackets consecutive packets, decoded in place, with their
// scan points and the reader's news. The reader fills it; then every meter
// reads it (each touching only its own packets) and the merge reads the
// news; the merge hands it back for reuse once every meter is done with it.
//
// With Config.CopyIP each record is copied into arena before it is
// decoded, so the packets' IP slices alias arena, not the source's buffer.
// They stay valid until the batch is reused: meters give them to nDPI and
// plugins, which keep nothing past the call. (When arena grows, earlier
// packets keep pointing into the previous array, which still holds their
// bytes.) Without CopyIP the IP slices are nil.
type batch struct {
	first uint64 // the number of pkts[0]
	pkts  []decode.Packet
	arena []byte
	scans []scanPoint
	last  bool // end of input: flush after this batch

	// The reader's news for the merge: counters before and after the
	// batch, damage reports kept during it, with the last batch the error
	// that ended reading early, and notes of every record not metered and
	// every clamped packet, from which the counters after any packet of
	// the batch follow (for a stream that stops in the middle of it).
	start    Counters
	counters Counters
	damage   []error
	err      error
	notes    []note
}

func (b *batch) reset() {
	clear(b.pkts) // drop references into the arena
	b.pkts, b.arena, b.scans, b.notes = b.pkts[:0], b.arena[:0], b.scans[:0], b.notes[:0]
	b.last, b.start, b.counters, b.damage, b.err = false, Counters{}, Counters{}, nil, nil
}

// note records a counted event that is not a metered packet: a record
// filtered out, ignored or damaged before packet seq, or packet seq
// clamped.
type note struct {
	seq  uint64
	kind uint8
}

// Kinds of notes.
const (
	noteFiltered uint8 = iota
	noteIgnored
	noteDamaged
	noteClamped
)

// countersAt returns the reader's counters right after packet seq of b.
func (b *batch) countersAt(seq uint64) Counters {
	c := b.start
	c.Records += seq + 1 - b.first
	c.Processed = seq + 1
	for _, n := range b.notes {
		if n.seq > seq {
			break
		}
		switch n.kind {
		case noteFiltered:
			c.Filtered++
			c.Records++
		case noteIgnored:
			c.Ignored++
			c.Records++
		case noteDamaged:
			c.Damaged++
		case noteClamped:
			c.Clamped++
		}
	}
	return c
}

// work is one meter's share of a batch: the positions of its packets.
type work struct {
	b   *batch
	idx []uint32
}

// output is what one meter reports for one batch.
type output struct {
	events []flow.Event
	err    error // the meter failed: the stream stops
}

// pipeline is the state shared by the goroutines of one Run. Every free
// list holds all the values that circulate through it, so that handing a
// value back never blocks.
type pipeline struct {
	in        Input
	cfg       Config
	n         int
	done      chan struct{} // closed by the merge to stop everything
	toMeter   []chan *work
	freeWork  []chan *work
	toMerge   []chan *output
	freeOut   []chan *output
	toMergeB  chan *batch // the batches, in order, for their news
	freeBatch chan *batch
}

// Run meters the input with cfg.Meters meters and calls emit, from the
// calling goroutine, with every flow in NFStream's single-meter order, until
// emit returns false. progress is called from the calling goroutine after
// each batch with the reader's counters for the packets whose flows have
// been merged so far, and with new damage reports (capture.FormatError).
// When emit stops the stream, the last call gives the counters and damage
// reports as of the packet at which one meter would have stopped reading.
//
// At the end of the input, and when ctx is cancelled or the source fails
// (an error other than a damaged record), every flow still cached is
// flushed through emit before Run returns the error (ctx's, or the
// source's). When emit returns false Run stops at once, flushes nothing and
// returns nil. A meter that cannot be set up (NewMeter's error) stops the
// stream with that error and nothing flushed.
//
// Run returns after every goroutine it started has ended (after the
// reader's Source.Next call in progress has returned).
func Run(ctx context.Context, in Input, cfg Config, emit func(*flow.Flow) bool, progress func(Counters, []error)) error {
	n := max(cfg.Meters, 1)
	if cfg.BatchPackets <= 0 {
		cfg.BatchPackets = DefaultBatchPackets
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	cfg.Queue = max(cfg.Queue, 2)
	p := &pipeline{in: in, cfg: cfg, n: n, done: make(chan struct{}),
		toMergeB: make(chan *batch, cfg.Queue), freeBatch: make(chan *batch, cfg.Queue)}
	for range cfg.Queue {
		p.freeBatch <- &batch{pkts: make([]decode.Packet, 0, cfg.BatchPackets)}
	}
	per := cfg.BatchPackets/n + cfg.BatchPackets/(4*n) + 16
	for range n {
		toMeter, freeWork := make(chan *work, cfg.Queue), make(chan *work, cfg.Queue)
		toMerge, freeOut := make(chan *output, cfg.Queue), make(chan *output, cfg.Queue)
		for range cfg.Queue {
			freeWork <- &work{idx: make([]uint32, 0, per)}
			freeOut <- &output{}
		}
		p.toMeter, p.freeWork = append(p.toMeter, toMeter), append(p.freeWork, freeWork)
		p.toMerge, p.freeOut = append(p.toMerge, toMerge), append(p.freeOut, freeOut)
	}
	finished := make(chan struct{}, n+1)
	defer func() {
		close(p.done)
		for range n + 1 {
			<-finished
		}
	}()
	go func() { defer func() { finished <- struct{}{} }(); p.read(ctx) }()
	for i := range n {
		go func() { defer func() { finished <- struct{}{} }(); p.meter(i) }()
	}
	return p.merge(emit, progress)
}

// read is the reader goroutine.
func (p *pipeline) read(ctx context.Context) {
	var (
		rec     capture.Record
		c       Counters
		clock   flow.Clock
		seq     uint64 // the next packet's number
		kept    int
		readErr error
		b       *batch
		works   = make([]*work, p.n)
		keep    = p.cfg.CopyIP
		dec     = p.in.Decoder
		n       = uint64(p.n)
		limit   = uint64(p.cfg.BatchPackets)
	)
	// take gets an empty batch and work for every meter; false when
	// stopped.
	take := func() bool {
		select {
		case b = <-p.freeBatch:
		case <-p.done:
			return false
		}
		c.Clamped = clock.Clamped
		b.first, b.start = seq, c
		for i := range works {
			select {
			case works[i] = <-p.freeWork[i]:
			case <-p.done:
				return false
			}
		}
		return true
	}
	// send hands the batch to every meter, then to the merge; false when
	// stopped.
	send := func(last bool) bool {
		c.Clamped = clock.Clamped
		b.last, b.counters = last, c
		if last {
			b.err = readErr
		}
		for i, w := range works {
			w.b = b
			select {
			case p.toMeter[i] <- w:
			case <-p.done:
				return false
			}
		}
		select {
		case p.toMergeB <- b:
		case <-p.done:
			return false
		}
		return true
	}
	if !take() {
		return
	}
	batchEnd := limit
	for {
		if c.Records&1023 == 0 {
			if readErr = ctx.Err(); readErr != nil {
				break
			}
			select {
			case <-p.done:
				return
			default:
			}
		}
		if err := p.in.Source.Next(&rec); err != nil {
			if err == io.EOF {
				break
			}
			var oe *capture.OpenError
			var fe *capture.FormatError
			if !errors.As(err, &oe) && errors.As(err, &fe) {
				c.Damaged++
				b.notes = append(b.notes, note{seq, noteDamaged})
				if kept < p.in.MaxDamage {
					b.damage = append(b.damage, err)
					kept++
				}
				continue
			}
			readErr = err
			break
		}
		c.Records++
		if p.in.Filter != nil {
			ok, err := p.in.Filter.Match(rec.LinkType, rec.Data, rec.WireLen)
			if err != nil {
				readErr = err
				break
			}
			if !ok {
				c.Filtered++
				b.notes = append(b.notes, note{seq, noteFiltered})
				continue
			}
		}
		data, mark := rec.Data, len(b.arena)
		if keep {
			b.arena = append(b.arena, data...)
			data = b.arena[mark:len(b.arena):len(b.arena)]
		}
		if len(b.pkts) == cap(b.pkts) {
			b.pkts = append(b.pkts, decode.Packet{})
		} else {
			b.pkts = b.pkts[:len(b.pkts)+1]
		}
		pkt := &b.pkts[len(b.pkts)-1]
		pkt.TimeMs = rec.TimeMs()
		if !dec.Decode(data, rec.WireLen, rec.LinkType, pkt) {
			b.pkts, b.arena = b.pkts[:len(b.pkts)-1], b.arena[:mark]
			c.Ignored++
			b.notes = append(b.notes, note{seq, noteIgnored})
			continue
		}
		c.Processed++
		if !keep {
			pkt.IP = nil // it aliases the source's buffer
		}
		clamped := clock.Clamped
		if clock.Advance(&pkt.TimeMs) {
			b.scans = append(b.scans, scanPoint{seq: seq, tickMs: clock.Tick()})
		}
		if clock.Clamped != clamped {
			b.notes = append(b.notes, note{seq, noteClamped})
		}
		w := works[pick(hash(pkt), n)]
		w.idx = append(w.idx, uint32(seq-b.first))
		seq++
		if seq == batchEnd {
			if !send(false) || !take() {
				return
			}
			batchEnd += limit
		}
	}
	send(true)
}

// meter is the goroutine of meter i.
func (p *pipeline) meter(i int) {
	var o *output
	cfg, release, err := p.cfg.NewMeter(i)
	if release != nil {
		defer release()
	}
	var m *flow.Meter
	if err == nil {
		m = flow.NewShardMeter(cfg, func(e flow.Event) { o.events = append(o.events, e) })
	}
	for {
		var w *work
		select {
		case w = <-p.toMeter[i]:
		case <-p.done:
			return
		}
		select {
		case o = <-p.freeOut[i]:
		case <-p.done:
			return
		}
		if o.err = err; err == nil {
			meterWork(m, w)
		}
		last := w.b.last
		w.b, w.idx = nil, w.idx[:0]
		p.freeWork[i] <- w
		select {
		case p.toMerge[i] <- o:
		case <-p.done:
			return
		}
		if last || err != nil {
			return
		}
	}
}

// meterWork meters a meter's packets of a batch, running the scan points
// in place, and flushes after the last batch.
func meterWork(m *flow.Meter, w *work) {
	b := w.b
	j := 0
	for _, sc := range b.scans {
		end := uint32(sc.seq - b.first)
		for ; j < len(w.idx) && w.idx[j] <= end; j++ {
			k := w.idx[j]
			m.ProcessAt(&b.pkts[k], b.first+uint64(k))
		}
		m.ExpireIdle(sc.tickMs, sc.seq)
	}
	for ; j < len(w.idx); j++ {
		k := w.idx[j]
		m.ProcessAt(&b.pkts[k], b.first+uint64(k))
	}
	if b.last {
		m.Flush()
	}
}

// merge runs on the caller's goroutine: for each batch in turn it takes
// the batch (for the reader's news) and every meter's events, replays them
// in a flow.Order, and recycles the batch.
func (p *pipeline) merge(emit func(*flow.Flow) bool, progress func(Counters, []error)) error {
	order := flow.NewOrder(emit)
	maxDamage := uint64(max(p.in.MaxDamage, 0))
	var prev Counters // as of the previous batch
	outs := make([]*output, p.n)
	streams := make([][]flow.Event, p.n)
	for {
		// The reader and the meters deliver every batch until done is
		// closed, which only this goroutine does.
		b := <-p.toMergeB
		for i := range outs {
			outs[i] = <-p.toMerge[i]
		}
		var err error
		for i, o := range outs {
			streams[i] = o.events
			if o.err != nil && err == nil {
				err = o.err
			}
		}
		if err == nil {
			err = order.Merge(streams...)
		}
		if progress != nil && err == nil {
			c, damage := b.counters, b.damage
			if q := order.StoppedAt(); order.Stopped() && q-b.first < uint64(len(b.pkts)) {
				// The single meter stops reading at packet q.
				c = b.countersAt(q)
				damage = damage[:min(c.Damaged, maxDamage)-min(prev.Damaged, maxDamage)]
			}
			progress(c, damage)
			prev = c
		}
		last, readErr := b.last, b.err
		b.reset()
		p.freeBatch <- b
		for i, o := range outs {
			clear(o.events) // drop the flows
			o.events = o.events[:0]
			p.freeOut[i] <- o
		}
		switch {
		case err != nil:
			return err
		case order.Stopped():
			return nil
		case last:
			if err := order.Flush(); err != nil {
				return err
			}
			return readErr
		}
	}
}

// hash is a symmetric hash of a packet's flow key (spec 5.2): both
// directions of a flow give the same value. Each endpoint is mixed on its
// own and the two are added, so their order does not matter; the sum is
// then mixed with the rest of the key.
func hash(p *decode.Packet) uint64 {
	a := endpoint(&p.SrcIP, p.SrcPort)
	b := endpoint(&p.DstIP, p.DstPort)
	return mix((a + b) ^ uint64(p.Protocol)<<32 ^ uint64(p.VlanID)<<8 ^ uint64(p.TunnelID))
}

// endpoint mixes one endpoint; a plain product of the address is not
// enough (sums of products keep their structure and bias the meter counts
// by a few percent on real traffic).
func endpoint(ip *[16]byte, port uint16) uint64 {
	lo := binary.LittleEndian.Uint64(ip[:8]) ^ uint64(port)<<48 // an IPv4 address fills 32 bits
	hi := binary.LittleEndian.Uint64(ip[8:])
	e := lo*0x9e3779b97f4a7c15 ^ hi*0xc2b2ae3d27d4eb4f
	e ^= e >> 32
	return e * 0xff51afd7ed558ccd
}

// mix is MurmurHash3's 64-bit finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// pick maps a hash to one of n meters.
func pick(h, n uint64) int {
	hi, _ := bits.Mul64(h, n)
	return int(hi)
}
