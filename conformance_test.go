package nfstream_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// resultRow is one line of NFStream's results file for a capture.
type resultRow struct {
	id, packets, bytes                 uint64
	app, category, guessed, confidence string
}

func readResults(t *testing.T, path string) []resultRow {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var rows []resultRow
	for _, r := range recs[1:] {
		var row resultRow
		row.id, _ = strconv.ParseUint(r[0], 10, 64)
		row.packets, _ = strconv.ParseUint(r[1], 10, 64)
		row.bytes, _ = strconv.ParseUint(r[2], 10, 64)
		row.app, row.category, row.guessed, row.confidence = r[3], r[4], r[5], r[6]
		rows = append(rows, row)
	}
	return rows
}

// TestConformance runs every capture of the shared corpus with NFStream's
// defaults and one meter and compares id, bidirectional_packets and
// bidirectional_bytes with NFStream's results row for row.
func TestConformance(t *testing.T) {
	root := testcorpus.Root(t)
	results, err := filepath.Glob(filepath.Join(root, "testdata", "nfstream", "results", "*"))
	if err != nil || len(results) == 0 {
		t.Fatalf("no results files under %s", root)
	}
	opts := nfstream.DefaultOptions() // n_dissections 20, as NFStream's results
	opts.NMeters = 1
	matched, flows := 0, 0
	// Agreement of the application columns with NFStream's (newer nDPI).
	var agree [4]int
	compared := 0
	for _, res := range results {
		name := filepath.Base(res)
		want := readResults(t, res)
		s, err := nfstream.New([]string{filepath.Join(root, "testdata", "nfstream", "pcaps", name)}, opts)
		if err != nil {
			t.Fatal(err)
		}
		var got []resultRow
		for f, err := range s.Flows(context.Background()) {
			if err != nil {
				t.Errorf("%s: %v", name, err)
				break
			}
			row := resultRow{id: f.ID, packets: f.BidirectionalPackets, bytes: f.BidirectionalBytes}
			if f.DPI != nil {
				i := f.DPI.Info
				row.app, row.category = i.ApplicationName, i.ApplicationCategoryName
				row.guessed, row.confidence = strconv.Itoa(int(i.ApplicationIsGuessed)), strconv.Itoa(int(i.ApplicationConfidence))
			}
			got = append(got, row)
		}
		ok := len(got) == len(want)
		for i := 0; ok && i < len(got); i++ {
			ok = got[i].id == want[i].id && got[i].packets == want[i].packets && got[i].bytes == want[i].bytes
		}
		if !ok {
			first := -1
			for i := 0; i < min(len(got), len(want)); i++ {
				if got[i].id != want[i].id || got[i].packets != want[i].packets || got[i].bytes != want[i].bytes {
					first = i
					break
				}
			}
			t.Errorf("%s: %d flows, NFStream %d; first differing row %d", name, len(got), len(want), first)
			if first >= 0 {
				t.Logf("  got %+v want %+v", got[first], want[first])
			}
			continue
		}
		matched++
		flows += len(got)
		if s.Schema().DPI {
			for i := range got {
				compared++
				for j, eq := range []bool{got[i].app == want[i].app, got[i].category == want[i].category,
					got[i].guessed == want[i].guessed, got[i].confidence == want[i].confidence} {
					if eq {
						agree[j]++
					}
				}
			}
		}
	}
	t.Logf("conformance: %d/%d captures identical to NFStream (id, bidirectional_packets, bidirectional_bytes), %d flows", matched, len(results), flows)
	if compared > 0 {
		pct := func(n int) float64 { return 100 * float64(n) / float64(compared) }
		t.Logf("nDPI 4.2 vs NFStream's results over %d flows: application_name %.1f%%, application_category_name %.1f%%, application_is_guessed %.1f%%, application_confidence %.1f%%",
			compared, pct(agree[0]), pct(agree[1]), pct(agree[2]), pct(agree[3]))
		// A floor well under the measured rates: a drop means a regression
		// in decoding or in the nDPI layer, not nDPI's version drift.
		if pct(agree[0]) < 84 {
			t.Errorf("application_name agreement %.1f%% is under 84%%", pct(agree[0]))
		}
	}
}
