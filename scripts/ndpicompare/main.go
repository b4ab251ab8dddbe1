// Command ndpicompare measures the agreement of our application columns with
// ndpiReader (nDPI 4.2's reference program) over the NFStream corpus: the
// measurement of issue 3. See README.md in this folder.
//
//	go run ./scripts/ndpicompare [-v] [-shared DIR] [-json FILE] [-reader PATH] [CAPTURE...]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/nfstream-go/nfstream/internal/ndpicompare"
)

func main() {
	var (
		verbose  = flag.Bool("v", false, "list every difference, grouped by kind, and every unmatched flow")
		shared   = flag.String("shared", "", "the shared folder holding testdata/nfstream/pcaps (default $NFSTREAM_SHARED, else ../shared beside the module)")
		jsonOut  = flag.String("json", "", "write the summary (totals and per-capture results) as JSON to this file")
		reader   = flag.String("reader", "ndpiReader", "the ndpiReader binary")
		workers  = flag.Int("workers", runtime.NumCPU(), "captures compared at once")
		keep     = flag.String("keep", "", "keep ndpiReader's CSV and verbose outputs in this folder")
		perCapt  = flag.Bool("captures", false, "print one line per capture")
		nDissect = flag.Int("n", 20, "our n_dissections and ndpiReader's -T/-U")
		tcpLimit = flag.Int("T", 0, "ndpiReader's -T (default: -n)")
		udpLimit = flag.Int("U", 0, "ndpiReader's -U (default: -n)")
		tunnels  = flag.Bool("t", false, "also give ndpiReader -t (decapsulate GTP-U, TZSP, CAPWAP), which issue 3's command does not")
	)
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./scripts/ndpicompare [flags] [CAPTURE...]\n\nWith no CAPTURE, every capture of the shared corpus is compared.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if _, err := exec.LookPath(*reader); err != nil {
		fatal(fmt.Errorf("%s not found (apt-get install libndpi-bin): %w", *reader, err))
	}
	captures := flag.Args()
	if len(captures) == 0 {
		dir := filepath.Join(sharedDir(*shared), "testdata", "nfstream", "pcaps")
		entries, err := os.ReadDir(dir)
		if err != nil {
			fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				captures = append(captures, filepath.Join(dir, e.Name()))
			}
		}
		sort.Strings(captures)
	}
	if *keep != "" {
		if err := os.MkdirAll(*keep, 0o755); err != nil {
			fatal(err)
		}
	}
	if *tcpLimit == 0 {
		*tcpLimit = *nDissect
	}
	if *udpLimit == 0 {
		*udpLimit = *nDissect
	}
	ropts := ndpicompare.ReaderOptions{Bin: *reader, TCPLimit: *tcpLimit, UDPLimit: *udpLimit, Tunnels: *tunnels}
	start := time.Now()
	results, err := ndpicompare.Run(context.Background(), ndpicompare.Config{
		Reader:   ropts,
		Captures: captures, Workers: *workers, TempDir: *keep, NDissections: *nDissect,
	})
	if err != nil {
		fatal(err)
	}
	elapsed := time.Since(start)
	t := ndpicompare.Sum(results)
	w := os.Stdout
	if *perCapt {
		printCaptures(w, results)
	}
	printSummary(w, t, *nDissect, ropts, elapsed)
	if *verbose {
		printDetails(w, results)
	}
	if *jsonOut != "" {
		type column struct {
			Compared int     `json:"compared"`
			Equal    int     `json:"equal"`
			Rate     float64 `json:"identical_percent"`
		}
		perColumn := map[string]column{}
		for c, name := range ndpicompare.ColumnNames {
			perColumn[name] = column{t.Compared[c], t.Equal[c], pct(t.Equal[c], t.Compared[c])}
		}
		doc := struct {
			Command      string                       `json:"ndpireader_command"`
			NDissections int                          `json:"n_dissections"`
			Columns      []string                     `json:"columns"`
			PerColumn    map[string]column            `json:"per_column"`
			Rates        map[string]float64           `json:"identical_rate_percent"`
			Totals       ndpicompare.Totals           `json:"totals"`
			Captures     []*ndpicompare.CaptureResult `json:"captures"`
		}{
			Command:      "ndpiReader " + strings.Join(ndpicompare.ReaderArgs("CAPTURE", "OUT.csv", "OUT.txt", ropts), " "),
			NDissections: *nDissect,
			Columns:      ndpicompare.ColumnNames[:],
			PerColumn:    perColumn,
			Rates:        rates(t),
			Totals:       t,
			Captures:     results,
		}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			fatal(err)
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fatal(err)
		}
	}
	if t.Failed > 0 {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "ndpicompare:", err)
	os.Exit(1)
}

// sharedDir resolves the shared corpus folder like internal/testcorpus.
func sharedDir(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv("NFSTREAM_SHARED"); env != "" {
		return env
	}
	wd, err := os.Getwd()
	if err != nil {
		fatal(err)
	}
	// Walk up to the module root (the folder with go.mod).
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(d), "shared")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(filepath.Dir(wd), "shared")
		}
	}
}

func pct(n, d int) float64 {
	if d == 0 {
		return 100
	}
	return 100 * float64(n) / float64(d)
}

func rates(t ndpicompare.Totals) map[string]float64 {
	m := map[string]float64{}
	cells, equal := 0, 0
	for c, name := range ndpicompare.ColumnNames {
		m[name] = pct(t.Equal[c], t.Compared[c])
		cells += t.Compared[c]
		equal += t.Equal[c]
	}
	m["all_cells"] = pct(equal, cells)
	m["flows_identical_in_every_column"] = pct(t.Identical, t.Paired)
	return m
}

func printCaptures(w io.Writer, results []*ndpicompare.CaptureResult) {
	fmt.Fprintf(w, "%-52s %6s %6s %6s %6s %5s %5s %5s\n", "capture", "ours", "nDPIr", "paired", "ident", "dup", "unm.o", "unm.r")
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(w, "%-52s ERROR %s\n", r.Capture, r.Error)
			continue
		}
		uo, ur := 0, 0
		for _, u := range r.Unmatched {
			if u.Side == "ours" {
				uo++
			} else {
				ur++
			}
		}
		fmt.Fprintf(w, "%-52s %6d %6d %6d %6d %5d %5d %5d\n", r.Capture, r.OurFlows, r.ReaderFlows, r.Paired, r.Identical, r.DuplicateOur+r.DuplicateRdr, uo, ur)
	}
	fmt.Fprintln(w)
}

func printSummary(w io.Writer, t ndpicompare.Totals, n int, ro ndpicompare.ReaderOptions, elapsed time.Duration) {
	fmt.Fprintf(w, "ndpiReader %s vs nfstream (n_dissections %d, one meter, no timeouts)\n",
		strings.Join(ndpicompare.ReaderArgs("CAPTURE", "OUT.csv", "OUT.txt", ro), " "), n)
	fmt.Fprintf(w, "captures %d (failed %d), flows: ours %d, ndpiReader %d; paired %d; skipped (key not unique) ours %d / ndpiReader %d; unmatched ours %d / ndpiReader %d; %.1f s\n\n",
		t.Captures, t.Failed, t.OurFlows, t.ReaderFlows, t.Paired, t.DuplicateOur, t.DuplicateRdr, t.UnmatchedOur, t.UnmatchedRdr, elapsed.Seconds())
	fmt.Fprintf(w, "%-28s %8s %8s %9s\n", "column", "compared", "equal", "identical")
	cells, equal := 0, 0
	for c, name := range ndpicompare.ColumnNames {
		fmt.Fprintf(w, "%-28s %8d %8d %8.2f%%\n", name, t.Compared[c], t.Equal[c], pct(t.Equal[c], t.Compared[c]))
		cells += t.Compared[c]
		equal += t.Equal[c]
	}
	fmt.Fprintf(w, "%-28s %8d %8d %8.2f%%\n", "all cells", cells, equal, pct(equal, cells))
	fmt.Fprintf(w, "%-28s %8d %8d %8.2f%%\n\n", "flows (every column)", t.Paired, t.Identical, pct(t.Identical, t.Paired))
	fmt.Fprintf(w, "paired flows with different packet counts (information, not compared): %d\n", t.PacketCountDiffers)
	for _, k := range ndpicompare.SortedKinds(t.PacketCountReasons) {
		fmt.Fprintf(w, "  %5d  %s\n", t.PacketCountReasons[k], k)
	}
	fmt.Fprintln(w)
	if len(t.Kinds) > 0 {
		fmt.Fprintln(w, "differing cells by kind:")
		for _, k := range ndpicompare.SortedKinds(t.Kinds) {
			fmt.Fprintf(w, "  %5d  %s\n", t.Kinds[k], k)
		}
		fmt.Fprintln(w)
	}
	if len(t.Unmatched) > 0 {
		fmt.Fprintln(w, "unmatched flows by reason:")
		for _, k := range ndpicompare.SortedKinds(t.Unmatched) {
			fmt.Fprintf(w, "  %5d  %s\n", t.Unmatched[k], k)
		}
		fmt.Fprintln(w)
	}
}

func printDetails(w io.Writer, results []*ndpicompare.CaptureResult) {
	byKind := map[string][]ndpicompare.Difference{}
	counts := map[string]int{}
	for _, r := range results {
		for _, d := range r.Differences {
			byKind[d.Kind] = append(byKind[d.Kind], d)
			counts[d.Kind]++
		}
	}
	for _, k := range ndpicompare.SortedKinds(counts) {
		fmt.Fprintf(w, "== %s (%d cells)\n", k, counts[k])
		for _, d := range byKind[k] {
			fmt.Fprintf(w, "  %s  %s  %s: ours %q, ndpiReader %q\n      ours %s | ndpiReader %s\n",
				d.Capture, d.Key, d.Column, d.Ours, d.Theirs, d.OursLabel, d.TheirsLabel)
		}
		fmt.Fprintln(w)
	}
	byReason := map[string][]ndpicompare.Unmatched{}
	rc := map[string]int{}
	for _, r := range results {
		for _, u := range r.Unmatched {
			k := u.Side + ": " + u.Reason
			byReason[k] = append(byReason[k], u)
			rc[k]++
		}
	}
	for _, k := range ndpicompare.SortedKinds(rc) {
		fmt.Fprintf(w, "== unmatched, %s (%d flows)\n", k, rc[k])
		for _, u := range byReason[k] {
			fmt.Fprintf(w, "  %s  %s  %s\n", u.Capture, u.Key, u.Label)
		}
		fmt.Fprintln(w)
	}
	first := true
	for _, r := range results {
		for _, p := range r.PacketCountDiffs {
			if first {
				fmt.Fprintln(w, "== paired flows with different packet counts")
				first = false
			}
			fmt.Fprintf(w, "  %s  %s  ours %d packets, ndpiReader %d: %s\n", p.Capture, p.Key, p.Ours, p.Theirs, p.Reason)
		}
	}
	if !first {
		fmt.Fprintln(w)
	}
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(w, "== error: %s: %s\n", r.Capture, r.Error)
		}
	}
}
