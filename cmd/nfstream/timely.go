package main

import (
	"sync"
	"time"

	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
)

// timelyWriter flushes its writer every period while there is something to
// flush, so that the flows of a live capture, or of a capture arriving on a
// pipe, reach the output about a period after they end instead of once
// 256 KiB of them have piled up in a buffer. Write and the flushes are
// serialised by a mutex; a flush error is returned by the next Write or by
// Close.
type timelyWriter struct {
	mu    sync.Mutex
	w     export.Writer
	dirty bool
	err   error
	stop  chan struct{}
	done  chan struct{}
}

func newTimelyWriter(w export.Writer, period time.Duration) *timelyWriter {
	t := &timelyWriter{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go t.loop(period)
	return t
}

func (t *timelyWriter) loop(period time.Duration) {
	defer close(t.done)
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			t.mu.Lock()
			if fl, ok := t.w.(export.Flusher); ok && t.dirty && t.err == nil {
				t.err = fl.Flush()
			}
			t.dirty = false
			t.mu.Unlock()
		case <-t.stop:
			return
		}
	}
}

func (t *timelyWriter) Write(f *flow.Flow) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	t.dirty = true
	return t.w.Write(f)
}

func (t *timelyWriter) Close() error {
	select {
	case <-t.stop:
		return nil // closed already
	default:
	}
	close(t.stop)
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.w.Close(); err != nil {
		return err
	}
	return t.err
}
