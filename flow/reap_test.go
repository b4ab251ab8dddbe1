package flow

import (
	"testing"

	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/dpi"
)

// countingEngine is a dpi.Engine that never identifies anything and keeps
// count of its live flows and give-ups.
type countingEngine struct {
	next    dpi.Handle
	live    map[dpi.Handle]bool
	giveUps int
}

func (e *countingEngine) NewFlow() (dpi.Handle, error) {
	e.next++
	e.live[e.next] = true
	return e.next, nil
}
func (e *countingEngine) Process(dpi.Handle, []byte, uint64) (dpi.Protocol, bool) {
	return dpi.Protocol{}, false
}
func (e *countingEngine) GiveUp(dpi.Handle) (dpi.Protocol, bool) {
	e.giveUps++
	return dpi.Protocol{Master: 0, App: 7}, true
}
func (e *countingEngine) Extract(_ dpi.Handle, p dpi.Protocol, info *dpi.Info) {
	if p.App == 7 {
		info.ApplicationName = "HTTP"
	}
}
func (e *countingEngine) Free(h dpi.Handle) { delete(e.live, h) }
func (e *countingEngine) LiveFlows() int    { return len(e.live) }
func (e *countingEngine) Close() error      { return nil }

// TestReapIdleDPI: a flow that went idle behind an older live flow stays
// cached (NFStream's creation-ordered scan stops at the live one), but its
// nDPI state is released at the next scan, with its final labels; the live
// flow keeps its state. Emission order and labels are unchanged.
func TestReapIdleDPI(t *testing.T) {
	eng := &countingEngine{live: map[dpi.Handle]bool{}}
	d, err := dpi.NewDissector(eng, 255, false)
	if err != nil {
		t.Fatal(err)
	}
	var emitted []string
	m := NewMeter(Config{IdleTimeoutMs: 1000, ActiveTimeoutMs: 1_000_000, Dissector: d}, func(f *Flow) {
		emitted = append(emitted, f.DPI.Info.ApplicationName)
	})
	var p decode.Packet
	at := func(port uint32, t uint64) {
		synthetic(&p, port, t)
		m.Process(&p)
	}
	at(1, 0)  // A: old, stays busy
	at(2, 10) // B: goes idle after 1010 ms
	for t := uint64(100); t <= 3000; t += 100 {
		at(1, t) // A keeps the scan from reaching B
	}
	if m.Len() != 2 {
		t.Fatalf("%d flows cached, want 2 (B shielded by A)", m.Len())
	}
	if eng.LiveFlows() != 1 || eng.giveUps != 1 {
		t.Fatalf("live nDPI states %d, give-ups %d; want 1 (A only), 1 (B)", eng.LiveFlows(), eng.giveUps)
	}
	if len(emitted) != 0 {
		t.Fatalf("emitted %v before the end", emitted)
	}
	m.Flush()
	if eng.LiveFlows() != 0 || eng.giveUps != 2 || len(emitted) != 2 || emitted[0] != "HTTP" || emitted[1] != "HTTP" {
		t.Fatalf("after flush: live %d, give-ups %d, emitted %v", eng.LiveFlows(), eng.giveUps, emitted)
	}
}
