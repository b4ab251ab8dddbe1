package export_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// exportSteam runs the streamer of NFStream's test_export (steam.pcap,
// statistical_analysis, n_dissections=20) into a file with opts and
// returns the number of flows yielded.
func exportSteam(t *testing.T, path string, opts export.Options) uint64 {
	t.Helper()
	o := nfstream.DefaultOptions()
	o.StatisticalAnalysis = true
	o.NDissections = 20
	s, err := nfstream.New([]string{testcorpus.Pcap(t, "steam.pcap")}, o)
	if err != nil {
		t.Fatal(err)
	}
	w, err := export.Create(path, s.Columns(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for f, err := range s.Flows(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return s.Counters().Flows
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func column(t *testing.T, rows [][]string, name string) []string {
	t.Helper()
	for i, n := range rows[0] {
		if n == name {
			var out []string
			for _, r := range rows[1:] {
				out = append(out, r[i])
			}
			return out
		}
	}
	t.Fatalf("no column %s", name)
	return nil
}

// NFStream's test_export: exports with and without anonymising src_ip and
// dst_ip have the same shape and the same number of distinct addresses, and
// the row counts equal the flow counts. Here, also: the anonymisation is a
// bijection that is the same in every format, and tokens are those of
// Anonymizer.Token with the key.
func TestSteamExport(t *testing.T) {
	dir := t.TempDir()
	key := []byte("steam key")
	plain := filepath.Join(dir, "steam.pcap.csv")
	anon := filepath.Join(dir, "steam.anon.csv")
	n := exportSteam(t, plain, export.Options{})
	nAnon := exportSteam(t, anon, export.Options{Anonymize: []string{"src_ip", "dst_ip"}, Key: key})
	if n != 55 || nAnon != n {
		t.Fatalf("steam.pcap gave %d and %d flows, want 55", n, nAnon)
	}
	p, a := readCSV(t, plain), readCSV(t, anon)
	if len(p) != int(n)+1 || len(a) != int(n)+1 {
		t.Fatalf("CSV rows %d and %d, want %d flows + header", len(p)-1, len(a)-1, n)
	}
	if len(p[0]) != len(a[0]) {
		t.Errorf("shapes differ: %d and %d columns", len(p[0]), len(a[0]))
	}
	ref, _ := export.NewAnonymizer(key)
	for _, name := range []string{"src_ip", "dst_ip"} {
		pv, av := column(t, p, name), column(t, a, name)
		fwd, back := map[string]string{}, map[string]string{}
		for i := range pv {
			if fwd[pv[i]] != "" && fwd[pv[i]] != av[i] || back[av[i]] != "" && back[av[i]] != pv[i] {
				t.Fatalf("%s: row %d: %s ↔ %s is not one-to-one", name, i, pv[i], av[i])
			}
			fwd[pv[i]], back[av[i]] = av[i], pv[i]
			if av[i] != ref.Token(pv[i]) {
				t.Fatalf("%s: row %d: token of %s is %s, want %s", name, i, pv[i], av[i], ref.Token(pv[i]))
			}
		}
		if len(fwd) != len(back) {
			t.Errorf("%s: %d distinct values, %d distinct tokens", name, len(fwd), len(back))
		}
	}
	for _, name := range []string{"id", "src_port", "bidirectional_bytes", "bidirectional_mean_ps"} {
		pv, av := column(t, p, name), column(t, a, name)
		for i := range pv {
			if pv[i] != av[i] {
				t.Errorf("%s row %d: %s without anonymisation, %s with", name, i, pv[i], av[i])
			}
		}
	}

	// The same tokens in JSON Lines, with the same key.
	jl := filepath.Join(dir, "steam.anon.jsonl")
	exportSteam(t, jl, export.Options{Anonymize: []string{"src_ip", "dst_ip"}, Key: key})
	b, err := os.ReadFile(jl)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	srcs := column(t, a, "src_ip")
	for i := 0; dec.More(); i++ {
		var obj struct {
			SrcIP string `json:"src_ip"`
		}
		if err := dec.Decode(&obj); err != nil {
			t.Fatal(err)
		}
		if obj.SrcIP != srcs[i] {
			t.Fatalf("JSON Lines row %d: src_ip %s, CSV has %s", i, obj.SrcIP, srcs[i])
		}
	}

	// And pandas, as NFStream's test: same shape, same nunique, row count.
	if exec.Command("/usr/bin/python3", "-c", "import pandas").Run() != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("/usr/bin/python3 cannot import pandas: install python3-pandas")
		}
		t.Skip("/usr/bin/python3 has no pandas")
	}
	script := `
import sys, pandas as pd
p, a = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
assert p.shape == a.shape, (p.shape, a.shape)
assert p["src_ip"].nunique() == a["src_ip"].nunique()
assert p["dst_ip"].nunique() == a["dst_ip"].nunique()
assert len(p) == int(sys.argv[3]), len(p)
print(p.shape[0], p.shape[1])
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, plain, anon, strconv.FormatUint(n, 10)).CombinedOutput()
	if err != nil {
		t.Fatalf("pandas check: %v\n%s", err, out)
	}
}
