package dpi

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrNDissections is returned by NewDissector for a packet limit outside
// 1..255 (NFStream's n_dissections; 0 means no DPI at all, which is the
// caller's business: it then has no Dissector).
var ErrNDissections = errors.New("dpi: n_dissections must be in 1..255")

// ErrNoEngine is returned by NewDissector when the engine is nil.
var ErrNoEngine = errors.New("dpi: nil engine")

// Dissector applies NFStream's per-flow dissection rules (behaviour spec,
// sections 7.2 and 7.3) over one Engine: which packets go to nDPI, when the
// protocol is guessed, and when the application columns are filled.
//
// A meter has one Dissector, used by one goroutine at a time (the Engine's
// rule); its flows' FlowStates must only be passed to it.
//
// Memory: NFStream keeps a flow's nDPI state until the flow expires. The
// Dissector instead extracts the columns and frees the engine state as soon
// as no packet of the flow can reach nDPI any more (dissection completed, or
// application known and nDPI wanting no extra packets). Nothing can change
// the state after that point, so the exported values are the same as with
// extraction at expiry, and long flows hold no nDPI memory.
type Dissector struct {
	engine Engine
	n      uint64
	plugin bool
}

// NewDissector returns a Dissector that gives at most nDissections packets
// per flow to e (see FlowState for the one exception NFStream has), and, in
// pluginMode, also refreshes each flow's Info after every dissected packet so
// that plugins see intermediate values (NFStream's "sync" mode). The
// Dissector does not own e: closing it is the caller's job, after every flow
// has been finished.
func NewDissector(e Engine, nDissections int, pluginMode bool) (*Dissector, error) {
	if e == nil {
		return nil, ErrNoEngine
	}
	if nDissections < 1 || nDissections > 255 {
		return nil, fmt.Errorf("%w (got %d)", ErrNDissections, nDissections)
	}
	return &Dissector{engine: e, n: uint64(nDissections), plugin: pluginMode}, nil
}

// ArenaEngine is implemented by engines that can dissect packets where
// they lie when these are in memory the engine handed out (ndpi.Engine: C
// memory, so nDPI needs no copy). Arena returns n bytes, owned by the
// engine until it is closed, or nil.
type ArenaEngine interface {
	Engine
	Arena(n int) []byte
}

// Buffer returns an empty slice with capacity n for packets that will be
// passed to Start and Update: the engine's arena memory when it has some
// (no copy per dissected packet), else ordinary memory. Arena memory lives
// until the engine is closed. Buffer must not be called while another
// goroutine uses the Dissector.
func (d *Dissector) Buffer(n int) []byte {
	if a, ok := d.engine.(ArenaEngine); ok {
		if b := a.Arena(n); len(b) == n {
			return b[:0:n]
		}
	}
	return make([]byte, 0, n)
}

// Engine returns the engine the Dissector drives.
func (d *Dissector) Engine() Engine { return d.engine }

// NDissections returns the per-flow packet limit.
func (d *Dissector) NDissections() int { return int(d.n) }

// PluginMode reports whether Info is refreshed after every dissected packet.
func (d *Dissector) PluginMode() bool { return d.plugin }

// FlowState is one flow's dissection state. Its zero value is ready for
// Start; Reset makes a used one ready again. It is meant to be embedded in
// the flow record and is owned by the goroutine owning the flow.
//
// Info holds the nine application columns. It is final after Finish; before
// that it is filled as soon as the flow's dissection is over, and, in plugin
// mode, after every dissected packet. ApplicationIsGuessed is set together
// with the other columns.
//
// NFStream quirk kept on purpose (spec 13, item 27): with n_dissections = 1,
// if the application is known after the first packet, dissection is never
// marked completed by the limit and continues for as long as nDPI reports
// that extra dissection is possible.
type FlowState struct {
	// over is set once no later packet can reach the engine (the state
	// was released, or never allocated). It is atomic so that a meter
	// whose Dissector runs on another goroutine can skip such packets.
	// It comes first, and the fields written on every dissected packet
	// last, more than a cache line away: the meter reads over on every
	// packet, and sharing a line with them would move it between the two
	// CPUs each time (measured: docs/performance.md).
	over atomic.Bool

	Info Info

	handle    Handle
	detected  Protocol
	completed uint8 // NFStream's detection_completed: 0, 1, then 2 (bookkeeping)
	guessed   uint8
	extra     bool // nDPI's answer to "extra dissection possible" after the last dissected packet
	dirty     bool // the engine state changed since Info was last extracted
}

// NewFlowState returns an empty state, its memory written by the caller's
// goroutine. A meter reads Over before its first packet reaches the
// Dissector; memory fresh from the kernel that is read first is mapped to
// the shared zero page, and the Dissector's first write, on another
// goroutine, would then cost a copy-on-write fault with a TLB flush on
// every CPU (an interrupt, a VM exit on a virtual machine), on the
// critical path of a run with DPI (docs/performance.md).
func NewFlowState() *FlowState {
	fs := new(FlowState)
	fs.clear()
	return fs
}

// Reset clears the state for reuse by another flow. The flow's engine state
// must already have been released by Finish.
func (fs *FlowState) Reset() { fs.clear() }

// clear zeroes the state field by field: the flag another goroutine may
// be reading is only ever stored atomically.
func (fs *FlowState) clear() {
	fs.Info = Info{}
	fs.handle, fs.detected, fs.completed, fs.guessed, fs.extra, fs.dirty = 0, Protocol{}, 0, 0, false, false
	fs.over.Store(false)
}

// Detected returns the protocol detected so far (nDPI's last answer).
func (fs *FlowState) Detected() Protocol { return fs.detected }

// Completed returns NFStream's detection_completed value: 0 while packets
// may still be dissected, 1 once dissection ended, 2 from the packet after
// that on, when Update is still called (a flow.Meter stops calling it once
// Over is true, so for its flows it can stay 1).
func (fs *FlowState) Completed() uint8 { return fs.completed }

// Guessed reports whether the protocol came from nDPI's guess at give-up.
func (fs *FlowState) Guessed() bool { return fs.guessed != 0 }

// Live reports whether the flow still holds engine state.
func (fs *FlowState) Live() bool { return fs.handle != 0 }

// Over reports whether no later packet of the flow can reach the engine:
// its dissection is over and Update would only do bookkeeping. Unlike the
// other methods it may be called from any goroutine: a meter whose
// Dissector runs elsewhere uses it to stop sending the flow's packets.
// It may turn true later than the last useful packet, never earlier.
func (fs *FlowState) Over() bool { return fs.over.Load() }

// Start handles a flow's first packet: it allocates the engine state and
// dissects the packet; with n_dissections = 1 and nothing identified it gives
// up (guessing) at once. ip is the packet from its IP header on, timeMs its
// time in milliseconds; neither is kept.
//
// Start resets fs first (releasing engine state it may still hold), so a
// FlowState can be reused. If the engine cannot allocate the flow, Start
// returns the error and the flow is never dissected: its Info stays empty
// (Update and Finish are still safe).
func (d *Dissector) Start(fs *FlowState, ip []byte, timeMs uint64) error {
	if fs.handle != 0 {
		d.engine.Free(fs.handle)
	}
	fs.clear()
	h, err := d.engine.NewFlow()
	if err != nil {
		fs.completed = 1
		fs.over.Store(true)
		return fmt.Errorf("dpi: new flow: %w", err)
	}
	fs.handle = h
	d.dissect(fs, ip, timeMs)
	if fs.detected.App == 0 && d.n == 1 {
		d.giveUp(fs)
		fs.completed = 1
	}
	d.settle(fs)
	return nil
}

// Update handles a later packet of the flow; k is the flow's bidirectional
// packet count including this packet. ip and timeMs are as for Start.
// Updates after Finish make no engine call.
func (d *Dissector) Update(fs *FlowState, ip []byte, timeMs uint64, k uint64) {
	if fs.completed != 0 {
		if fs.completed == 1 {
			fs.completed = 2
		}
		return
	}
	if fs.detected.App == 0 || fs.extra {
		d.dissect(fs, ip, timeMs)
	} else {
		fs.completed = 1 // known, and nDPI needs no more packets: not dissected
	}
	if k == d.n {
		if fs.detected.App == 0 {
			d.giveUp(fs)
		}
		fs.completed = 1
	}
	d.settle(fs)
}

// Finish handles the flow's expiry, whatever its reason: if the application
// is still unknown and the limit was not reached it gives up (guessing), then
// it fills Info and releases the engine state. Calling it again does nothing.
func (d *Dissector) Finish(fs *FlowState) {
	if fs.handle == 0 {
		return
	}
	if fs.detected.App == 0 && fs.completed == 0 {
		d.giveUp(fs)
	}
	d.release(fs)
}

// dissect gives one packet to the engine. The engine state is always live
// here except when a caller keeps updating a flow after Finish: then nothing
// happens.
func (d *Dissector) dissect(fs *FlowState, ip []byte, timeMs uint64) {
	if fs.handle == 0 {
		return
	}
	fs.detected, fs.extra = d.engine.Process(fs.handle, ip, timeMs)
	fs.dirty = true
	if d.plugin {
		d.extract(fs)
	}
}

// giveUp asks the engine for its final, possibly guessed, answer.
func (d *Dissector) giveUp(fs *FlowState) {
	if fs.handle == 0 {
		return // updated after Finish, as in dissect
	}
	p, guessed := d.engine.GiveUp(fs.handle)
	fs.detected = p
	fs.guessed = 0
	if guessed {
		fs.guessed = 1
	}
	fs.dirty = true
	if d.plugin {
		d.extract(fs)
	}
}

// settle releases the engine state once no later packet can be dissected
// and Finish would not give up: either dissection is completed, or the
// application is known and nDPI wants no extra packet (then the next packet
// only marks completion, with no engine call).
func (d *Dissector) settle(fs *FlowState) {
	if fs.handle == 0 {
		return
	}
	if fs.completed != 0 || (fs.detected.App != 0 && !fs.extra) {
		d.release(fs)
	}
}

// release fills Info from the final engine state and frees it.
func (d *Dissector) release(fs *FlowState) {
	if fs.dirty {
		d.extract(fs)
	}
	d.engine.Free(fs.handle)
	fs.handle = 0
	fs.over.Store(true)
}

func (d *Dissector) extract(fs *FlowState) {
	d.engine.Extract(fs.handle, fs.detected, &fs.Info)
	fs.Info.ApplicationIsGuessed = fs.guessed
	fs.dirty = false
}
