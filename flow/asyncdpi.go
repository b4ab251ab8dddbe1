package flow

import (
	"github.com/nfstream-go/nfstream/dpi"
)

// A meter with Config.AsyncDPI runs its Dissector on a goroutine of its own
// (docs/performance.md): nDPI is most of the work of a default run, and
// metering the next packets does not need its answers. The meter records
// every call it would make to the Dissector (start, update, finish) as an
// operation in a batch, with a copy of the packet bytes, and hands full
// batches to the worker. Emitting a flow is an operation too, queued after
// the flow's finish, so a flow leaves the meter only once its labels are
// final. The worker makes the calls in the order they were recorded, on one
// Dissector, so nDPI sees exactly the calls of a synchronous meter and the
// output is identical; it returns each batch, and the meter's goroutine
// emits the batch's flows when it takes the batch back. The only thing the
// meter reads of the worker's state is dpi.FlowState.Over, to stop copying
// packets of flows whose dissection is over.

// asyncBatches is how many batches circulate between a meter and its
// worker, and batchOps, batchBytes the size of one (the packet bytes are
// capped at 65,535 per packet, as nDPI's length is a 16-bit value).
const (
	asyncBatches = 4
	batchOps     = 2048
	batchBytes   = 1 << 20
	maxDPIBytes  = 65535
)

type dpiOpKind uint8

const (
	opStart  dpiOpKind = iota // Dissector.Start with the packet
	opUpdate                  // Dissector.Update with the packet and k
	opFinish                  // Dissector.Finish
	opEmit                    // Dissector.Finish, then the flow is emitted
)

type dpiOp struct {
	kind   dpiOpKind
	fs     *dpi.FlowState
	f      *Flow // opEmit only
	timeMs uint64
	k      uint64
	off, n uint32 // the packet: data[off : off+n]
}

type dpiBatch struct {
	ops      []dpiOp
	data     []byte
	failures uint64 // Start errors, counted by the worker
}

func (b *dpiBatch) reset() {
	clear(b.ops) // drop the flow pointers
	b.ops = b.ops[:0]
	b.data = b.data[:0]
	b.failures = 0
}

// dpiWorker is the meter's side of the worker goroutine.
type dpiWorker struct {
	d        *dpi.Dissector
	cur      *dpiBatch
	spare    []*dpiBatch
	inFlight int // batches handed to the worker and not taken back
	work     chan *dpiBatch
	done     chan *dpiBatch
	deliver  func(*dpiBatch)
	stopped  bool
}

func newDPIWorker(d *dpi.Dissector, deliver func(*dpiBatch)) *dpiWorker {
	w := &dpiWorker{
		d:       d,
		work:    make(chan *dpiBatch, asyncBatches),
		done:    make(chan *dpiBatch, asyncBatches),
		deliver: deliver,
	}
	// Every batch is made now: their packet memory comes from the engine,
	// which the worker goroutine is about to own.
	for range asyncBatches {
		w.spare = append(w.spare, &dpiBatch{ops: make([]dpiOp, 0, batchOps), data: d.Buffer(batchBytes)})
	}
	w.cur = w.spare[len(w.spare)-1]
	w.spare = w.spare[:len(w.spare)-1]
	go w.run()
	return w
}

// run is the worker goroutine: it makes the batches' calls in order.
func (w *dpiWorker) run() {
	d := w.d
	for b := range w.work {
		for i := range b.ops {
			op := &b.ops[i]
			switch op.kind {
			case opStart:
				if d.Start(op.fs, b.data[op.off:op.off+op.n], op.timeMs) != nil {
					b.failures++
				}
			case opUpdate:
				d.Update(op.fs, b.data[op.off:op.off+op.n], op.timeMs, op.k)
			case opFinish, opEmit:
				if op.fs != nil {
					d.Finish(op.fs)
				}
			}
		}
		w.done <- b
	}
	close(w.done)
}

// add records one operation, with ip copied when not nil.
func (w *dpiWorker) add(kind dpiOpKind, fs *dpi.FlowState, f *Flow, ip []byte, timeMs, k uint64) {
	if len(ip) > maxDPIBytes {
		ip = ip[:maxDPIBytes]
	}
	b := w.cur
	if len(b.ops) == cap(b.ops) || len(b.data)+len(ip) > cap(b.data) {
		w.send()
		b = w.cur
	}
	off := len(b.data)
	b.data = append(b.data, ip...)
	b.ops = append(b.ops, dpiOp{kind: kind, fs: fs, f: f, timeMs: timeMs, k: k, off: uint32(off), n: uint32(len(ip))})
}

// send hands the current batch to the worker and takes a fresh one: a
// spare, or else the oldest batch in flight once the worker is done with it
// (delivering its flows).
// Batches the worker has already returned are delivered on the way, so
// flows come out soon after their labels are final.
func (w *dpiWorker) send() {
	w.work <- w.cur
	w.inFlight++
	w.cur = nil
	for w.cur == nil {
		select {
		case b := <-w.done:
			w.takeBack(b)
			continue
		default:
		}
		switch {
		case len(w.spare) > 0:
			w.cur = w.spare[len(w.spare)-1]
			w.spare = w.spare[:len(w.spare)-1]
		default:
			w.takeBack(<-w.done)
		}
	}
}

func (w *dpiWorker) takeBack(b *dpiBatch) {
	w.inFlight--
	w.deliver(b)
	b.reset()
	w.spare = append(w.spare, b)
}

// drain hands over the current batch and waits until the worker has done
// every batch, delivering them: afterwards every recorded call is made and
// every recorded flow emitted.
func (w *dpiWorker) drain() {
	if len(w.cur.ops) > 0 {
		w.send()
	}
	for w.inFlight > 0 {
		w.takeBack(<-w.done)
	}
}

// stop waits for the worker to make the calls already recorded (their
// flows are delivered when deliver still wants them) and ends the
// goroutine. The Dissector may be used again, or its engine closed, after
// stop returns.
func (w *dpiWorker) stop() {
	if w.stopped {
		return
	}
	w.stopped = true
	if len(w.cur.ops) > 0 {
		w.work <- w.cur
		w.inFlight++
	}
	close(w.work)
	for b := range w.done {
		w.inFlight--
		w.deliver(b)
	}
}
