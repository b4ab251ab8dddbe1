package capture

import (
	"errors"
	"io"
)

// A regular file is read ahead by a goroutine of its own (prefetcher), so
// that the copy out of the page cache (the read system call: a tenth of a
// metering run) happens on another CPU while the records of the previous
// chunk are parsed. The chunks are handed over, not copied: each has
// headroom in front of its data, where the parser moves the few unread
// bytes of the chunk it leaves (a record cut by the chunk boundary), so
// the record is contiguous again. A chunk goes back to the prefetcher when
// the parser moves on from it, inside the Next call after the one whose
// record pointed into it: records still alias the buffer until the
// following Next, as with plain reads.

const (
	chunkData     = 1 << 20         // bytes read per chunk
	chunkHeadroom = MaxSnapLen + 64 // room for a cut pcap record (longer pcapng blocks are stitched)
	chunks        = 3               // in flight: parsed, ready, being read
)

type chunk struct {
	buf []byte // headroom bytes of room, then the data
	n   int    // bytes of data
	err error  // the read's error after the data (io.EOF at the end)
}

type prefetcher struct {
	headroom int
	full     chan *chunk   // read, in file order
	free     chan *chunk   // given back by the parser
	stop     chan struct{} // closed by close
	done     chan struct{} // closed when the goroutine has returned
}

// startPrefetch starts reading f ahead in chunks of data bytes with
// headroom bytes of room in front (Open: chunkData, chunkHeadroom; tests
// use small ones). f must not block for long or return no bytes without
// an error (a regular file; tests use a bytes.Reader): pipes are read
// directly instead.
func startPrefetch(f io.Reader, data, headroom int) *prefetcher {
	p := &prefetcher{
		headroom: headroom,
		full:     make(chan *chunk, chunks),
		free:     make(chan *chunk, chunks),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for range chunks {
		p.free <- &chunk{buf: make([]byte, headroom+data)}
	}
	go p.run(f)
	return p
}

func (p *prefetcher) run(f io.Reader) {
	defer close(p.done)
	defer close(p.full)
	for {
		var c *chunk
		select {
		case c = <-p.free:
		case <-p.stop:
			return
		}
		n, err := io.ReadFull(f, c.buf[p.headroom:])
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		c.n, c.err = n, err
		select {
		case p.full <- c:
		case <-p.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// close stops the goroutine and waits for it.
func (p *prefetcher) close() {
	close(p.stop)
	<-p.done
}

// fillPrefetched is fillSlow for a prefetched input: it takes chunks until
// n bytes are available.
func (in *input) fillPrefetched(n int) int {
	h := in.pre.headroom
	for in.w-in.r < n && in.err == nil {
		c, ok := <-in.pre.full
		if !ok { // cannot happen: the last chunk carries an error
			in.err = io.ErrUnexpectedEOF
			break
		}
		old, err := in.cur, c.err // c may go back below: read it first
		if tail := in.w - in.r; tail <= h {
			// The unread tail goes right in front of the new data.
			start := h - tail
			copy(c.buf[start:h], in.buf[in.r:in.w])
			in.base += int64(in.r - start)
			in.buf, in.r, in.w, in.cur = c.buf, start, h+c.n, c
		} else {
			// A block longer than the headroom (pcapng): stitched in a
			// buffer of its own, grown only by data actually read.
			var buf []byte
			if old == nil && in.r == 0 {
				buf = in.buf[:in.w] // already such a buffer
			} else {
				buf = append(make([]byte, 0, 2*tail), in.buf[in.r:in.w]...)
				in.base += int64(in.r)
			}
			buf = append(buf, c.buf[h:h+c.n]...)
			in.buf, in.r, in.w, in.cur = buf, 0, len(buf), nil
			in.pre.free <- c
		}
		if old != nil {
			in.pre.free <- old
		}
		in.err = err
	}
	return in.w - in.r
}
