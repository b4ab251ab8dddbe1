package dpi

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// fakeEngine is a scripted Engine. A packet's bytes are the answer nDPI would
// give after it: ip[0] app id, ip[1] non-zero when extra dissection is
// possible, ip[2] master id. GiveUp keeps a known app (as nDPI 4.2 does) and
// otherwise returns guessApp, guessed when guessApp != 0.
type fakeEngine struct {
	t        *testing.T
	guessApp uint16
	failNew  bool

	next  Handle
	flows map[Handle]*fakeFlow
	log   []string // "P<app>", "G", "E", "F" in call order
}

type fakeFlow struct {
	last      Protocol
	extra     bool
	processed int
	giveups   int
}

func newFake(t *testing.T) *fakeEngine {
	return &fakeEngine{t: t, flows: map[Handle]*fakeFlow{}}
}

func (e *fakeEngine) flow(h Handle, op string) *fakeFlow {
	f, ok := e.flows[h]
	if !ok {
		e.t.Fatalf("%s on unknown or freed handle %d", op, h)
	}
	return f
}

func (e *fakeEngine) NewFlow() (Handle, error) {
	if e.failNew {
		return 0, errors.New("fake: out of memory")
	}
	e.next++
	e.flows[e.next] = &fakeFlow{}
	return e.next, nil
}

func (e *fakeEngine) Process(h Handle, ip []byte, _ uint64) (Protocol, bool) {
	f := e.flow(h, "Process")
	f.processed++
	f.last = Protocol{App: uint16(ip[0]), Master: uint16(ip[2]), Category: uint32(ip[0]) + 100}
	f.extra = ip[1] != 0
	e.log = append(e.log, fmt.Sprintf("P%d", ip[0]))
	return f.last, ip[1] != 0
}

func (e *fakeEngine) GiveUp(h Handle) (Protocol, bool) {
	f := e.flow(h, "GiveUp")
	f.giveups++
	e.log = append(e.log, "G")
	if f.last.App != 0 {
		return f.last, false
	}
	if e.guessApp == 0 {
		return f.last, false
	}
	f.last = Protocol{App: e.guessApp, Category: 7}
	return f.last, true
}

// Extract writes the name always and, like NFStream's protocol branches, the
// fingerprint only for even app ids (slots never cleared), so the tests see
// both which state was extracted and when.
func (e *fakeEngine) Extract(h Handle, p Protocol, info *Info) {
	f := e.flow(h, "Extract")
	e.log = append(e.log, "E")
	info.ApplicationName = fmt.Sprintf("%d.%d", p.Master, p.App)
	info.ApplicationCategoryName = fmt.Sprint(p.Category)
	info.ApplicationConfidence = uint8(f.processed)
	info.RequestedServerName = fmt.Sprintf("processed=%d giveups=%d", f.processed, f.giveups)
	if p.App != 0 && p.App%2 == 0 {
		info.ClientFingerprint = fmt.Sprintf("even%d", p.App)
	}
}

func (e *fakeEngine) Free(h Handle) {
	e.flow(h, "Free")
	delete(e.flows, h)
	e.log = append(e.log, "F")
}

// extraPossible is ndpi_extra_dissection_possible: asked at any time, it
// answers for the flow's current state (used by the reference model only).
func (e *fakeEngine) extraPossible(h Handle) bool { return e.flow(h, "extraPossible").extra }

func (e *fakeEngine) LiveFlows() int { return len(e.flows) }
func (e *fakeEngine) Close() error   { return nil }

// calls counts the log entries equal to op.
func (e *fakeEngine) calls(op string) int {
	n := 0
	for _, s := range e.log {
		if s == op || (op == "P" && len(s) > 0 && s[0] == 'P') {
			n++
		}
	}
	return n
}

func pkt(app uint8, extra bool) []byte {
	var x uint8
	if extra {
		x = 1
	}
	return []byte{app, x, 0}
}

func mustDissector(t *testing.T, e Engine, n int, plugin bool) *Dissector {
	t.Helper()
	d, err := NewDissector(e, n, plugin)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// step is one packet of a scripted flow and what must hold after it.
type step struct {
	ip        []byte
	completed uint8
	live      bool
	processed int // cumulative Process calls
	giveups   int // cumulative GiveUp calls
}

func TestDissectorStateMachine(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		guessApp uint16
		steps    []step // steps[0] is the first packet (Start)
		// after Finish
		giveups int
		info    Info
	}{
		{
			name: "n=1 unknown: give up at once", n: 1, guessApp: 91,
			steps: []step{
				{ip: pkt(0, false), completed: 1, live: false, processed: 1, giveups: 1},
				{ip: pkt(5, false), completed: 2, live: false, processed: 1, giveups: 1},
				{ip: pkt(5, false), completed: 2, live: false, processed: 1, giveups: 1},
			},
			giveups: 1,
			info:    Info{ApplicationName: "0.91", ApplicationCategoryName: "7", ApplicationIsGuessed: 1, ApplicationConfidence: 1, RequestedServerName: "processed=1 giveups=1"},
		},
		{
			name: "n=1 unknown, nothing guessed", n: 1,
			steps: []step{
				{ip: pkt(0, false), completed: 1, live: false, processed: 1, giveups: 1},
			},
			giveups: 1,
			info:    Info{ApplicationName: "0.0", ApplicationCategoryName: "100", ApplicationConfidence: 1, RequestedServerName: "processed=1 giveups=1"},
		},
		{
			name: "n=1 quirk: known with extra keeps dissecting", n: 1,
			steps: []step{
				{ip: pkt(7, true), completed: 0, live: true, processed: 1},
				{ip: pkt(7, true), completed: 0, live: true, processed: 2},
				{ip: pkt(8, true), completed: 0, live: true, processed: 3},
				// nDPI is done: freed at once although completed is still 0
				{ip: pkt(8, false), completed: 0, live: false, processed: 4},
				{ip: pkt(9, true), completed: 1, live: false, processed: 4},
				{ip: pkt(9, true), completed: 2, live: false, processed: 4},
			},
			info: Info{ApplicationName: "0.8", ApplicationCategoryName: "108", ApplicationConfidence: 4, RequestedServerName: "processed=4 giveups=0", ClientFingerprint: "even8"},
		},
		{
			name: "n=1 known without extra: done at once", n: 1,
			steps: []step{
				{ip: pkt(7, false), completed: 0, live: false, processed: 1},
				{ip: pkt(0, true), completed: 1, live: false, processed: 1},
			},
			info: Info{ApplicationName: "0.7", ApplicationCategoryName: "107", ApplicationConfidence: 1, RequestedServerName: "processed=1 giveups=0"},
		},
		{
			name: "give up at k == n", n: 3, guessApp: 92,
			steps: []step{
				{ip: pkt(0, false), completed: 0, live: true, processed: 1},
				{ip: pkt(0, false), completed: 0, live: true, processed: 2},
				{ip: pkt(0, false), completed: 1, live: false, processed: 3, giveups: 1},
				{ip: pkt(4, false), completed: 2, live: false, processed: 3, giveups: 1},
				{ip: pkt(4, false), completed: 2, live: false, processed: 3, giveups: 1},
			},
			giveups: 1,
			info:    Info{ApplicationName: "0.92", ApplicationCategoryName: "7", ApplicationIsGuessed: 1, ApplicationConfidence: 3, RequestedServerName: "processed=3 giveups=1", ClientFingerprint: "even92"},
		},
		{
			name: "known at k == n: completed without give-up", n: 3,
			steps: []step{
				{ip: pkt(0, false), completed: 0, live: true, processed: 1},
				{ip: pkt(6, true), completed: 0, live: true, processed: 2},
				{ip: pkt(6, true), completed: 1, live: false, processed: 3},
				{ip: pkt(6, true), completed: 2, live: false, processed: 3},
			},
			info: Info{ApplicationName: "0.6", ApplicationCategoryName: "106", ApplicationConfidence: 3, RequestedServerName: "processed=3 giveups=0", ClientFingerprint: "even6"},
		},
		{
			name: "no dissection after completed", n: 10,
			steps: []step{
				{ip: pkt(0, false), completed: 0, live: true, processed: 1},
				{ip: pkt(7, false), completed: 0, live: false, processed: 2},
				{ip: pkt(0, true), completed: 1, live: false, processed: 2},
				{ip: pkt(0, true), completed: 2, live: false, processed: 2},
				{ip: pkt(0, true), completed: 2, live: false, processed: 2},
			},
			info: Info{ApplicationName: "0.7", ApplicationCategoryName: "107", ApplicationConfidence: 2, RequestedServerName: "processed=2 giveups=0"},
		},
		{
			name: "finalisation gives up when completed == 0", n: 10, guessApp: 30,
			steps: []step{
				{ip: pkt(0, false), completed: 0, live: true, processed: 1},
				{ip: pkt(0, true), completed: 0, live: true, processed: 2},
				{ip: pkt(0, false), completed: 0, live: true, processed: 3},
			},
			giveups: 1,
			info:    Info{ApplicationName: "0.30", ApplicationCategoryName: "7", ApplicationIsGuessed: 1, ApplicationConfidence: 3, RequestedServerName: "processed=3 giveups=1", ClientFingerprint: "even30"},
		},
		{
			name: "finalisation with app known and extra possible: no give-up", n: 10, guessApp: 30,
			steps: []step{
				{ip: pkt(0, false), completed: 0, live: true, processed: 1},
				{ip: pkt(91, true), completed: 0, live: true, processed: 2},
			},
			info: Info{ApplicationName: "0.91", ApplicationCategoryName: "191", ApplicationConfidence: 2, RequestedServerName: "processed=2 giveups=0"},
		},
		{
			name: "master id rendered", n: 2,
			steps: []step{
				{ip: []byte{119, 0, 91}, completed: 0, live: false, processed: 1},
			},
			info: Info{ApplicationName: "91.119", ApplicationCategoryName: "219", ApplicationConfidence: 1, RequestedServerName: "processed=1 giveups=0"},
		},
	}
	for _, tt := range tests {
		for _, plugin := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/plugin=%v", tt.name, plugin), func(t *testing.T) {
				e := newFake(t)
				e.guessApp = tt.guessApp
				d := mustDissector(t, e, tt.n, plugin)
				var fs FlowState
				for i, s := range tt.steps {
					if i == 0 {
						if err := d.Start(&fs, s.ip, 1000); err != nil {
							t.Fatal(err)
						}
					} else {
						d.Update(&fs, s.ip, uint64(1000+i), uint64(i+1))
					}
					if fs.Completed() != s.completed || fs.Live() != s.live || (e.LiveFlows() == 1) != s.live ||
						e.calls("P") != s.processed || e.calls("G") != s.giveups {
						t.Fatalf("after packet %d: completed=%d live=%v engine live=%d processed=%d giveups=%d; want completed=%d live=%v processed=%d giveups=%d (log %v)",
							i+1, fs.Completed(), fs.Live(), e.LiveFlows(), e.calls("P"), e.calls("G"),
							s.completed, s.live, s.processed, s.giveups, e.log)
					}
				}
				d.Finish(&fs)
				d.Finish(&fs) // idempotent
				if e.LiveFlows() != 0 || fs.Live() {
					t.Fatalf("flow still live after Finish")
				}
				if got := e.calls("G"); got != tt.giveups {
					t.Errorf("give-ups = %d, want %d (log %v)", got, tt.giveups, e.log)
				}
				if fs.Info != tt.info {
					t.Errorf("Info = %+v\nwant   %+v", fs.Info, tt.info)
				}
				if fs.Guessed() != (tt.info.ApplicationIsGuessed == 1) {
					t.Errorf("Guessed() = %v", fs.Guessed())
				}
			})
		}
	}
}

// TestDissectorPluginModeExtractsEachPacket checks that plugins see the
// values after every dissected packet, and that slots set by an earlier
// branch survive into the final Info only in plugin mode (spec 7.6).
func TestDissectorPluginModeExtractsEachPacket(t *testing.T) {
	packets := [][]byte{pkt(0, false), pkt(4, true), pkt(5, true), pkt(5, false)}
	for _, plugin := range []bool{false, true} {
		e := newFake(t)
		d := mustDissector(t, e, 20, plugin)
		var fs FlowState
		var seen []string
		for i, p := range packets {
			if i == 0 {
				if err := d.Start(&fs, p, 0); err != nil {
					t.Fatal(err)
				}
			} else {
				d.Update(&fs, p, 0, uint64(i+1))
			}
			seen = append(seen, fs.Info.ApplicationName)
		}
		d.Finish(&fs)
		wantSeen := []string{"", "", "", "0.5"}
		wantFP := ""
		if plugin {
			wantSeen = []string{"0.0", "0.4", "0.5", "0.5"}
			wantFP = "even4"
		}
		if !reflect.DeepEqual(seen, wantSeen) {
			t.Errorf("plugin=%v: names after each packet %q, want %q", plugin, seen, wantSeen)
		}
		if fs.Info.ClientFingerprint != wantFP {
			t.Errorf("plugin=%v: final fingerprint %q, want %q", plugin, fs.Info.ClientFingerprint, wantFP)
		}
		if got, want := e.calls("E"), map[bool]int{false: 1, true: 4}[plugin]; got != want {
			t.Errorf("plugin=%v: %d extractions, want %d (log %v)", plugin, got, want, e.log)
		}
	}
}

func TestDissectorStartError(t *testing.T) {
	e := newFake(t)
	e.failNew = true
	d := mustDissector(t, e, 20, false)
	var fs FlowState
	if err := d.Start(&fs, pkt(0, false), 0); err == nil {
		t.Fatal("Start succeeded with a failing engine")
	}
	d.Update(&fs, pkt(0, false), 0, 2)
	d.Finish(&fs)
	if len(e.log) != 0 || fs.Info != (Info{}) || fs.Live() {
		t.Fatalf("engine called or Info set after a failed Start: %v %+v", e.log, fs.Info)
	}
}

func TestNewDissectorValidates(t *testing.T) {
	e := newFake(t)
	for _, n := range []int{-1, 0, 256} {
		if _, err := NewDissector(e, n, false); !errors.Is(err, ErrNDissections) {
			t.Errorf("n=%d: err = %v, want ErrNDissections", n, err)
		}
	}
	if _, err := NewDissector(nil, 20, false); !errors.Is(err, ErrNoEngine) {
		t.Errorf("nil engine: err = %v", err)
	}
	d, err := NewDissector(e, 255, true)
	if err != nil || d.NDissections() != 255 || !d.PluginMode() || d.Engine() != Engine(e) {
		t.Fatalf("NewDissector(255) = %v, %v", d, err)
	}
}

// refFlow is NFStream's algorithm transcribed literally (spec 7.2/7.3): the
// engine state is kept until finalisation, where Info is extracted (and
// after every engine call in plugin mode).
type refFlow struct {
	h         Handle
	det       Protocol
	completed uint8
	guessed   uint8
	info      Info
}

func (r *refFlow) collect(e Engine) {
	e.Extract(r.h, r.det, &r.info)
	r.info.ApplicationIsGuessed = r.guessed
}

func (r *refFlow) giveUp(e Engine) {
	var g bool
	r.det, g = e.GiveUp(r.h)
	r.guessed = 0
	if g {
		r.guessed = 1
	}
}

func refRun(e *fakeEngine, n uint64, plugin bool, packets [][]byte) Info {
	var r refFlow
	r.h, _ = e.NewFlow()
	r.det, _ = e.Process(r.h, packets[0], 0)
	if plugin {
		r.collect(e)
	}
	if r.det.App == 0 && n == 1 {
		r.giveUp(e)
		if plugin {
			r.collect(e)
		}
		r.completed = 1
	}
	for i, p := range packets[1:] {
		k := uint64(i + 2)
		if r.completed != 0 {
			r.completed = 2
			continue
		}
		if r.det.App == 0 || e.extraPossible(r.h) {
			r.det, _ = e.Process(r.h, p, 0)
			if plugin {
				r.collect(e)
			}
		} else {
			r.completed = 1
		}
		if k == n {
			if r.det.App == 0 {
				r.giveUp(e)
				if plugin {
					r.collect(e)
				}
			}
			r.completed = 1
		}
	}
	if r.det.App == 0 && r.completed == 0 {
		r.giveUp(e)
	}
	r.collect(e)
	e.Free(r.h)
	return r.info
}

// engineCalls keeps the Process and GiveUp entries of a log.
func engineCalls(log []string) []string {
	var out []string
	for _, s := range log {
		if s != "E" && s != "F" {
			out = append(out, s)
		}
	}
	return out
}

// TestDissectorMatchesReference checks on random flows that freeing the
// engine state early gives exactly NFStream's output and engine calls.
func TestDissectorMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 20000 {
		n := 1 + rng.IntN(6)
		if rng.IntN(10) == 0 {
			n = 255
		}
		plugin := rng.IntN(2) == 0
		packets := make([][]byte, 1+rng.IntN(12))
		for i := range packets {
			app := uint8(0)
			if rng.IntN(3) == 0 {
				app = uint8(1 + rng.IntN(6))
			}
			packets[i] = []byte{app, uint8(rng.IntN(2)), uint8(rng.IntN(2) * 91)}
		}
		guess := uint16(rng.IntN(3) * 10)

		ref := newFake(t)
		ref.guessApp = guess
		want := refRun(ref, uint64(n), plugin, packets)

		got := newFake(t)
		got.guessApp = guess
		d := mustDissector(t, got, n, plugin)
		var fs FlowState
		if err := d.Start(&fs, packets[0], 0); err != nil {
			t.Fatal(err)
		}
		for i, p := range packets[1:] {
			d.Update(&fs, p, 0, uint64(i+2))
		}
		d.Finish(&fs)

		if fs.Info != want || !reflect.DeepEqual(engineCalls(got.log), engineCalls(ref.log)) || got.LiveFlows() != 0 {
			t.Fatalf("trial %d (n=%d plugin=%v guess=%d packets=%v):\n got  %+v %v\n want %+v %v",
				trial, n, plugin, guess, packets, fs.Info, got.log, want, ref.log)
		}
	}
}

// TestDissectorReuseAndMisuse covers a reused FlowState (Start resets it and
// releases what it held) and updates after Finish (no engine call).
func TestDissectorReuseAndMisuse(t *testing.T) {
	e := newFake(t)
	d := mustDissector(t, e, 20, false)
	var fs FlowState
	if err := d.Start(&fs, pkt(4, true), 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(&fs, pkt(0, false), 0); err != nil { // reused while live
		t.Fatal(err)
	}
	if e.LiveFlows() != 1 || fs.Detected().App != 0 || fs.Info != (Info{}) {
		t.Fatalf("after reuse: live=%d detected=%+v info=%+v", e.LiveFlows(), fs.Detected(), fs.Info)
	}
	d.Finish(&fs)
	calls := len(e.log)
	d.Update(&fs, pkt(0, false), 0, 2)
	d.Update(&fs, pkt(0, false), 0, 20)
	d.Finish(&fs)
	if len(e.log) != calls || e.LiveFlows() != 0 {
		t.Fatalf("engine called after Finish: %v", e.log[calls:])
	}
	fs.Reset()
	if fs != (FlowState{}) {
		t.Fatal("Reset left state behind")
	}
}
