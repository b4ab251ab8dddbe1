// Package progress draws a one-line progress report on a terminal while
// captures are read: bytes read of the total, packets per second and flows.
//
// The numbers come from a Source, which the Bar polls from its own
// goroutine while reading goes on elsewhere: a Source must be safe for
// concurrent use. Counter is such a Source, fed with atomic updates by the
// reading goroutine. Nothing is drawn unless the caller starts a Bar, which
// it does only when standard error is a terminal (see Terminal).
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// Snapshot is what a Bar shows. A negative field is unknown and not shown.
type Snapshot struct {
	BytesRead  int64 // bytes of the captures consumed so far
	BytesTotal int64 // their total size (unknown for standard input and pipes)
	Packets    int64 // packets read
	Flows      int64 // flows written
}

// Source gives the current numbers. Snapshot is called from the Bar's
// goroutine, concurrently with the reading: it must be safe for that.
type Source interface {
	Snapshot() Snapshot
}

// Counter is a Source whose numbers the reading goroutine sets with
// atomic operations. The zero Counter knows nothing: its fields are unknown
// (-1) until first set.
type Counter struct {
	bytesRead, bytesTotal, packets, flows atomic.Int64
	known                                 atomic.Uint32 // bit i: field i was set
}

const (
	knownBytes = 1 << iota
	knownTotal
	knownPackets
	knownFlows
)

// SetBytesRead sets the number of bytes consumed.
func (c *Counter) SetBytesRead(n int64) { c.bytesRead.Store(n); c.known.Or(knownBytes) }

// SetBytesTotal sets the total size of the input.
func (c *Counter) SetBytesTotal(n int64) { c.bytesTotal.Store(n); c.known.Or(knownTotal) }

// SetPackets sets the number of packets read.
func (c *Counter) SetPackets(n int64) { c.packets.Store(n); c.known.Or(knownPackets) }

// AddFlows adds n flows written.
func (c *Counter) AddFlows(n int64) { c.flows.Add(n); c.known.Or(knownFlows) }

// Snapshot implements Source.
func (c *Counter) Snapshot() Snapshot {
	k := c.known.Load()
	get := func(bit uint32, v *atomic.Int64) int64 {
		if k&bit == 0 {
			return -1
		}
		return v.Load()
	}
	return Snapshot{
		BytesRead:  get(knownBytes, &c.bytesRead),
		BytesTotal: get(knownTotal, &c.bytesTotal),
		Packets:    get(knownPackets, &c.packets),
		Flows:      get(knownFlows, &c.flows),
	}
}

// Terminal reports whether f is a terminal, and its width in columns (80
// when it cannot be read).
func Terminal(f *os.File) (ok bool, width int) {
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return false, 0
	}
	w, _, err := term.GetSize(fd)
	if err != nil || w <= 0 {
		w = 80
	}
	return true, w
}

// TotalSize returns the summed size of the capture files, or -1 when one
// of them is not a regular file ("-" for standard input, a pipe).
func TotalSize(paths []string) int64 {
	var total int64
	for _, p := range paths {
		if p == "-" {
			return -1
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		total += fi.Size()
	}
	return total
}

// Bar redraws one line on w at a fixed interval until Stop. Its methods
// may be called from any goroutine.
type Bar struct {
	w     io.Writer
	src   Source
	width int
	start time.Time

	stop chan struct{}
	done chan struct{}
	once sync.Once

	// Used by the drawing goroutine only.
	prev     Snapshot
	prevTime time.Time
	rate     float64 // packets per second, smoothed
}

// Start draws src's numbers on w (a terminal width columns wide) every
// interval, the first time after one interval, until Stop.
func Start(w io.Writer, src Source, width int, interval time.Duration) *Bar {
	now := time.Now()
	b := &Bar{w: w, src: src, width: width, start: now, prevTime: now,
		prev: Snapshot{-1, -1, -1, -1}, stop: make(chan struct{}), done: make(chan struct{})}
	go b.run(interval)
	return b
}

func (b *Bar) run(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	drawn := false
	for {
		select {
		case <-b.stop:
			if drawn {
				fmt.Fprint(b.w, "\r\x1b[K") // erase the line
			}
			return
		case now := <-t.C:
			fmt.Fprint(b.w, "\r"+b.line(b.src.Snapshot(), now)+"\x1b[K")
			drawn = true
		}
	}
}

// Stop erases the line and returns when the Bar has stopped drawing.
// Calling it again does nothing.
func (b *Bar) Stop() {
	b.once.Do(func() { close(b.stop) })
	<-b.done
}

// line renders s at time now, updating the packet rate.
func (b *Bar) line(s Snapshot, now time.Time) string {
	if s.Packets >= 0 && b.prev.Packets >= 0 {
		if dt := now.Sub(b.prevTime).Seconds(); dt > 0 {
			r := float64(s.Packets-b.prev.Packets) / dt
			if b.rate == 0 {
				b.rate = r
			} else {
				b.rate = 0.5*b.rate + 0.5*r
			}
		}
	}
	b.prev, b.prevTime = s, now
	return render(s, b.rate, now.Sub(b.start), b.width)
}

// render formats one line of at most width-1 columns.
func render(s Snapshot, pktRate float64, elapsed time.Duration, width int) string {
	var parts []string
	fraction := -1.0
	switch {
	case s.BytesRead >= 0 && s.BytesTotal > 0:
		fraction = min(float64(s.BytesRead)/float64(s.BytesTotal), 1)
		parts = append(parts, fmt.Sprintf("%s / %s %3.0f%%", bytesText(s.BytesRead), bytesText(s.BytesTotal), 100*fraction))
	case s.BytesRead >= 0:
		parts = append(parts, bytesText(s.BytesRead)+" read")
	case s.BytesTotal > 0:
		parts = append(parts, "reading "+bytesText(s.BytesTotal))
	}
	if s.Packets >= 0 {
		parts = append(parts, rateText(pktRate)+" pkt/s")
	}
	if s.Flows >= 0 {
		parts = append(parts, groupDigits(s.Flows)+" flows")
	}
	t := clock(elapsed)
	if fraction > 0.01 && fraction < 1 {
		left := time.Duration(float64(elapsed) * (1 - fraction) / fraction)
		t += " ETA " + clock(left)
	}
	parts = append(parts, t)
	text := strings.Join(parts, "  ")
	room := width - 1 - len(text) - 4
	if fraction >= 0 && room >= 10 {
		n := min(room, 30)
		full := int(fraction * float64(n))
		text = "[" + strings.Repeat("#", full) + strings.Repeat(".", n-full) + "]  " + text
	}
	if width > 1 && len(text) > width-1 {
		text = strings.TrimRight(text[:width-1], " ")
	}
	return text
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}

func rateText(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func clock(d time.Duration) string {
	sec := int64(d.Seconds())
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}
