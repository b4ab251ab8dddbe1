package export

import (
	"errors"
	"runtime"
	"sync"

	"github.com/nfstream-go/nfstream/flow"
)

// Background returns a Writer that runs w on goroutines of its own, so
// that formatting and writing flows overlap with reading and metering
// packets. Flows are handed over in batches of batchSize (at least 1); a
// flow must not be modified after it was given to Write. The first error
// of w is returned by the next Write and by Close; w then receives no more
// flows. Close hands over the last batch, waits for the goroutines, closes
// w and returns the first error; further calls return nil.
//
// When w is a Writer from New or Create (one file, no anonymised column),
// the batches after the first flow are also encoded on several goroutines
// at once (up to GOMAXPROCS, at most 4: CSV and JSON Lines lines, Parquet
// rows) and written in order: the output is the same bytes. A flow meter
// ends thousands of flows at once (an idle scan, the end of the input),
// and a single encoder would then be the whole run's bottleneck.
//
// Batches delay flows by up to batchSize flows: meant for files, not for a
// live capture whose flows should leave at once.
func Background(w Writer, batchSize int) Writer {
	return &background{w: w, size: max(batchSize, 1)}
}

// How many full batches may wait. Flows leave a meter in bursts; with one
// goroutine writing them, a queue deep enough for a burst keeps the meter
// from waiting (bench40, CSV one by one: 4 -> 16 batches of 512 flows,
// 3-8% faster, +3 MiB peak). With batches encoded in parallel a deeper
// queue than 4 gains nothing measurable and costs memory.
const (
	oneByOneQueue = 16
	batchQueue    = 4
)

// maxEncoders bounds the goroutines encoding batches at once.
const maxEncoders = 4

type background struct {
	w       Writer
	size    int
	started bool
	closed  bool
	wg      sync.WaitGroup
	err     firstError // of w

	// One by one: a goroutine calls w.Write for every flow of a batch.
	batch []*flow.Flow
	work  chan []*flow.Flow // batches to write
	free  chan []*flow.Flow // written batches, for reuse

	// Batches: encoders take jobs from jobs, the writer takes them in
	// order from ordered, waits for each, and writes it.
	job     *encJob
	jobs    chan *encJob
	ordered chan *encJob
	spare   chan *encJob
}

// batchWriter is a Writer that can hand out batch encoders (output does
// for every format, see batchEncoding).
type batchWriter interface {
	Writer
	batchEncoder() batchEncoder
	writeBatch(j *encJob) error
}

// A batchEncoder encodes the flows of a job into the job (lines or rows);
// each encoding goroutine has its own.
type batchEncoder func(j *encJob)

// lineEncoder is the batchEncoder of a line format (CSV, JSON Lines):
// the job's lines are each flow's line, in order.
func lineEncoder(line func(dst []byte, f *flow.Flow) []byte) batchEncoder {
	return func(j *encJob) {
		lines := j.lines[:0]
		for _, f := range j.flows {
			lines = line(lines, f)
		}
		j.lines = lines
	}
}

// encJob is a batch of flows and their encoding, kept with the job so
// that its memory is reused.
type encJob struct {
	flows []*flow.Flow
	lines []byte        // CSV, JSON Lines
	cols  *pqCols       // Parquet
	done  chan struct{} // a value once encoded
}

// start writes the first flow on the caller's goroutine (it fixes the
// columns), then starts the goroutines of the mode w allows.
func (b *background) start(first *flow.Flow) error {
	b.started = true
	if err := b.w.Write(first); err != nil {
		b.err.set(err)
		return err
	}
	if bw, ok := b.w.(batchWriter); ok {
		if enc := bw.batchEncoder(); enc != nil {
			b.startBatches(bw, enc)
			return nil
		}
	}
	b.work = make(chan []*flow.Flow, oneByOneQueue)
	b.free = make(chan []*flow.Flow, oneByOneQueue+1)
	b.wg.Add(1)
	go b.runOneByOne()
	return nil
}

func (b *background) startBatches(bw batchWriter, first batchEncoder) {
	n := min(max(runtime.GOMAXPROCS(0), 1), maxEncoders)
	b.jobs = make(chan *encJob, batchQueue)
	b.ordered = make(chan *encJob, batchQueue+n)
	b.spare = make(chan *encJob, batchQueue+n+2)
	b.wg.Add(n + 1)
	for i := range n {
		enc := first
		if i > 0 {
			enc = bw.batchEncoder()
		}
		go b.runEncoder(enc)
	}
	go b.runBatchWriter(bw)
}

func (b *background) runEncoder(enc batchEncoder) {
	defer b.wg.Done()
	for j := range b.jobs {
		enc(j)
		j.done <- struct{}{}
	}
}

func (b *background) runBatchWriter(bw batchWriter) {
	defer b.wg.Done()
	failed := false
	for j := range b.ordered {
		<-j.done
		if !failed {
			if err := bw.writeBatch(j); err != nil {
				failed = true
				b.err.set(err)
			}
		}
		clear(j.flows)
		j.flows = j.flows[:0]
		select {
		case b.spare <- j:
		default:
		}
	}
}

func (b *background) runOneByOne() {
	defer b.wg.Done()
	failed := false
	for batch := range b.work {
		for i, f := range batch {
			if !failed {
				if err := b.w.Write(f); err != nil {
					failed = true
					b.err.set(err)
				}
			}
			batch[i] = nil
		}
		select {
		case b.free <- batch[:0]:
		default:
		}
	}
}

// firstError keeps the first error one goroutine reports, for another to
// read.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (e *firstError) set(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = err
	}
}

func (e *firstError) get() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func (b *background) Write(f *flow.Flow) error {
	if b.closed {
		return errors.New("export: write after Close")
	}
	if !b.started {
		return b.start(f)
	}
	if b.jobs == nil && b.work == nil { // the first flow failed
		return b.err.get()
	}
	if b.jobs != nil {
		return b.addToJob(f)
	}
	if b.batch == nil {
		select {
		case b.batch = <-b.free:
		default:
			b.batch = make([]*flow.Flow, 0, b.size)
		}
	}
	b.batch = append(b.batch, f)
	if len(b.batch) == b.size {
		if err := b.err.get(); err != nil {
			clear(b.batch) // w takes no more flows: drop them
			b.batch = b.batch[:0]
			return err
		}
		b.work <- b.batch
		b.batch = nil
	}
	return nil
}

func (b *background) addToJob(f *flow.Flow) error {
	if b.job == nil {
		select {
		case b.job = <-b.spare:
		default:
			b.job = &encJob{flows: make([]*flow.Flow, 0, b.size), done: make(chan struct{}, 1)}
		}
	}
	b.job.flows = append(b.job.flows, f)
	if len(b.job.flows) == b.size {
		if err := b.err.get(); err != nil {
			clear(b.job.flows) // w takes no more flows: drop them
			b.job.flows = b.job.flows[:0]
			return err
		}
		b.dispatch()
	}
	return nil
}

// dispatch queues the current job for the writer (first: the order) and
// for the encoders.
func (b *background) dispatch() {
	b.ordered <- b.job
	b.jobs <- b.job
	b.job = nil
}

func (b *background) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	switch {
	case b.jobs != nil:
		if b.job != nil && len(b.job.flows) > 0 {
			b.dispatch()
		}
		close(b.jobs)
		close(b.ordered)
	case b.work != nil:
		if len(b.batch) > 0 {
			b.work <- b.batch
			b.batch = nil
		}
		close(b.work)
	}
	b.wg.Wait()
	return errors.Join(b.err.get(), b.w.Close())
}
