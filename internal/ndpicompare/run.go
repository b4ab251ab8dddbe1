package ndpicompare

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
)

// minReaderLimit is the smallest -T/-U ndpiReader accepts (it raises lower
// values to 3).
const minReaderLimit = 3

// Config describes one comparison run.
type Config struct {
	// Reader says how ndpiReader runs; its limits are 20 when 0.
	Reader ReaderOptions
	// Captures are the capture files.
	Captures []string
	// NDissections is our n_dissections (20 when 0).
	NDissections int
	// Workers is how many captures are compared at once (NumCPU when 0).
	Workers int
	// TempDir holds ndpiReader's outputs (a new temporary folder, removed
	// afterwards, when empty).
	TempDir string
}

func (c *Config) defaults() {
	if c.NDissections == 0 {
		c.NDissections = 20
	}
	if c.Reader.TCPLimit == 0 {
		c.Reader.TCPLimit = 20
	}
	if c.Reader.UDPLimit == 0 {
		c.Reader.UDPLimit = 20
	}
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
}

// Run compares every capture and returns the per-capture results in the
// order of c.Captures. A capture that fails on either side has Error set.
func Run(ctx context.Context, c Config) ([]*CaptureResult, error) {
	c.defaults()
	dir := c.TempDir
	if dir == "" {
		d, err := os.MkdirTemp("", "ndpicompare-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	results := make([]*CaptureResult, len(c.Captures))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < c.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results[i] = compareOne(ctx, c, c.Captures[i], dir)
			}
		}()
	}
	for i := range c.Captures {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return results, ctx.Err()
}

func compareOne(ctx context.Context, c Config, capture, dir string) *CaptureResult {
	name := filepath.Base(capture)
	fail := func(err error) *CaptureResult {
		return &CaptureResult{Capture: name, Error: err.Error()}
	}
	theirs, err := RunReader(ctx, c.Reader, capture, dir)
	if err != nil {
		return fail(fmt.Errorf("ndpiReader: %w", err))
	}
	ours, err := RunOurs(ctx, capture, OurOptions(c.NDissections))
	if err != nil {
		return fail(fmt.Errorf("nfstream: %w", err))
	}
	r := Compare(name, ours, theirs)
	ev := Evidence{ReaderTunnels: c.Reader.Tunnels}
	// Extra runs, only where something needs explaining: ndpiReader with
	// limits one lower (it raises limits below 3 to 3), and our decoder's
	// view of the packets.
	if len(r.Differences) > 0 && c.Reader.TCPLimit > minReaderLimit && c.Reader.UDPLimit > minReaderLimit {
		a := c.Reader
		a.TCPLimit--
		a.UDPLimit--
		if ev.Aligned, err = RunReader(ctx, a, capture, dir); err != nil {
			return fail(fmt.Errorf("ndpiReader (limits %d/%d): %w", a.TCPLimit, a.UDPLimit, err))
		}
	}
	diagnose := len(r.PacketCountDiffs) > 0
	for _, u := range r.Unmatched {
		diagnose = diagnose || u.Side == "ours"
	}
	if diagnose {
		if ev.Packets, err = Diagnose(ctx, capture, true); err != nil {
			return fail(fmt.Errorf("nfstream (diagnosis): %w", err))
		}
	}
	Classify(r, ev)
	return r
}

// Totals sums per-capture results.
type Totals struct {
	Captures     int `json:"captures"`
	Failed       int `json:"failed_captures"`
	OurFlows     int `json:"our_flows"`
	ReaderFlows  int `json:"ndpireader_flows"`
	Paired       int `json:"paired"`
	Identical    int `json:"identical"`
	DuplicateOur int `json:"duplicate_key_our_flows"`
	DuplicateRdr int `json:"duplicate_key_ndpireader_flows"`
	UnmatchedOur int `json:"unmatched_our_flows"`
	UnmatchedRdr int `json:"unmatched_ndpireader_flows"`
	// PacketCountDiffers counts paired flows with different packet counts;
	// PacketCountReasons counts them by reason.
	PacketCountDiffers int             `json:"packet_count_differs"`
	PacketCountReasons map[string]int  `json:"packet_count_reasons"`
	Compared           [NumColumns]int `json:"compared"`
	Equal              [NumColumns]int `json:"equal"`
	// Kinds counts differing cells by kind; Unmatched counts unmatched
	// flows by reason.
	Kinds     map[string]int `json:"difference_kinds"`
	Unmatched map[string]int `json:"unmatched_reasons"`
}

// Sum adds up results.
func Sum(results []*CaptureResult) Totals {
	t := Totals{Kinds: map[string]int{}, Unmatched: map[string]int{}, PacketCountReasons: map[string]int{}}
	for _, r := range results {
		t.Captures++
		if r.Error != "" {
			t.Failed++
			continue
		}
		t.OurFlows += r.OurFlows
		t.ReaderFlows += r.ReaderFlows
		t.Paired += r.Paired
		t.Identical += r.Identical
		t.DuplicateOur += r.DuplicateOur
		t.DuplicateRdr += r.DuplicateRdr
		t.PacketCountDiffers += r.PacketCountDiffers
		for _, p := range r.PacketCountDiffs {
			t.PacketCountReasons[p.Reason]++
		}
		for c := 0; c < NumColumns; c++ {
			t.Compared[c] += r.Compared[c]
			t.Equal[c] += r.Equal[c]
		}
		for _, d := range r.Differences {
			t.Kinds[d.Kind]++
		}
		for _, u := range r.Unmatched {
			if u.Side == "ours" {
				t.UnmatchedOur++
			} else {
				t.UnmatchedRdr++
			}
			t.Unmatched[u.Side+": "+u.Reason]++
		}
	}
	return t
}

// SortedKinds returns m's keys by decreasing count, then by name.
func SortedKinds(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if m[ks[i]] != m[ks[j]] {
			return m[ks[i]] > m[ks[j]]
		}
		return ks[i] < ks[j]
	})
	return ks
}
