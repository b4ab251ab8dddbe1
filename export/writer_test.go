package export

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/nfstream-go/nfstream/flow"
)

func TestChunkPath(t *testing.T) {
	for _, c := range []struct {
		path string
		k    int
		want string
	}{
		{"flows.csv", 0, "flows.0.csv"},
		{"flows.csv", 12, "flows.12.csv"},
		{"csv/flows.csv", 1, "csv/flows.1.csv"}, // NFStream would also rewrite the directory
		{"out/flows.parquet", 3, "out/flows.3.parquet"},
		{"flows", 2, "flows.2"},
		{"my.dir/flows", 2, "my.dir/flows.2"},
		{"a.b.jsonl", 0, "a.b.0.jsonl"},
	} {
		if got := ChunkPath(c.path, c.k); got != c.want {
			t.Errorf("ChunkPath(%q, %d) = %q, want %q", c.path, c.k, got, c.want)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct {
		path string
		want Format
		ok   bool
	}{
		{"a.csv", FormatCSV, true},
		{"a.CSV", FormatCSV, true},
		{"dir/a.parquet", FormatParquet, true},
		{"a.pq", FormatParquet, true},
		{"a.jsonl", FormatJSONL, true},
		{"a.ndjson", FormatJSONL, true},
		{"a.json", 0, false},
		{"a", 0, false},
	} {
		got, ok := FormatOf(c.path)
		if got != c.want || ok != c.ok {
			t.Errorf("FormatOf(%q) = %v, %v; want %v, %v", c.path, got, ok, c.want, c.ok)
		}
	}
	if _, err := ParseFormat("xml"); !errors.Is(err, ErrFormat) {
		t.Errorf("ParseFormat(xml) error %v, want ErrFormat", err)
	}
	for f, want := range map[Format]string{FormatCSV: ".csv", FormatParquet: ".parquet", FormatJSONL: ".jsonl"} {
		if f.Ext() != want {
			t.Errorf("%v.Ext() = %q, want %q", f, f.Ext(), want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	base := testSchema.Columns()
	for _, c := range []struct {
		name string
		opts Options
		want []string // substrings, one per problem
	}{
		{"defaults", Options{}, nil},
		{"selection", Options{Columns: []string{"dst_ip", "id", "udps.x"}, Anonymize: []string{"dst_ip"}}, nil},
		{"unknown", Options{Columns: []string{"id", "nope", "udps."}}, []string{`no column "nope"`, `no column "udps."`}},
		{"twice", Options{Columns: []string{"id", "id"}}, []string{`"id" selected twice`}},
		{"anon unknown", Options{Anonymize: []string{"src_addr"}}, []string{`cannot anonymise "src_addr"`}},
		{"anon unselected", Options{Columns: []string{"id"}, Anonymize: []string{"src_ip"}}, []string{"not among the selected"}},
		{"negative", Options{FlowsPerFile: -1, RotateFiles: -2, RowGroupRows: -3}, []string{"flows_per_file -1", "rotate_files -2", "row group length -3"}},
		{"long key", Options{Key: make([]byte, 65)}, []string{"key of 65 bytes"}},
		{"format", Options{Format: 9}, []string{"format 9"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.opts.Validate(base)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrOptions) {
				t.Fatalf("Validate error %v, want ErrOptions", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(c.want) {
				t.Fatalf("Validate gave %d problems, want %d:\n%v", len(lines), len(c.want), err)
			}
			for i, w := range c.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
		})
	}
}

// csvLines writes the flows with New and returns the lines.
func writeAll(t *testing.T, w Writer, flows []*flow.Flow) {
	t.Helper()
	for _, f := range flows {
		if err := w.Write(f); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestSelectionAndOrder(t *testing.T) {
	var buf bytes.Buffer
	w, err := New(&buf, testSchema.Columns(), Options{Columns: []string{"dst_port", "udps.late", "id", "udps.count", "udps.absent", "splt_ps"}})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, withUDPS(testFlows()))
	want := `dst_port,udps.late,id,udps.count,udps.absent,splt_ps
443,,0,0,,"[60, 1500, 52, -1]"
53,7,1,10,,"[90, -1, -1, -1]"
0,,2,20,,"[98, 98, -1, -1]"
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestUDPSFixedAtFirstFlow(t *testing.T) {
	// The first flow has no "late": the column is not written although the
	// second flow has it (NFStream's rule).
	for _, format := range []Format{FormatCSV, FormatJSONL} {
		var buf bytes.Buffer
		w, err := New(&buf, Schema{}.Columns(), Options{Format: format, Columns: nil})
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, w, withUDPS(testFlows()))
		if strings.Contains(buf.String(), "late") {
			t.Errorf("%v: udps.late written though the first flow lacks it:\n%s", format, buf.String())
		}
		if !strings.Contains(buf.String(), "udps.names") {
			t.Errorf("%v: udps.names missing:\n%s", format, buf.String())
		}
	}
}

func TestNoFlows(t *testing.T) {
	cols := Schema{}.Columns()
	for _, c := range []struct {
		format Format
		want   string
	}{
		{FormatCSV, strings.Join(Names(cols), ",") + "\n"},
		{FormatJSONL, ""},
	} {
		var buf bytes.Buffer
		w, err := New(&buf, cols, Options{Format: c.format})
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, w, nil)
		if buf.String() != c.want {
			t.Errorf("%v with no flow: %q, want %q", c.format, buf.String(), c.want)
		}
	}
	var buf bytes.Buffer
	w, err := New(&buf, cols, Options{Format: FormatParquet})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, nil)
	if b := buf.Bytes(); len(b) < 12 || string(b[:4]) != "PAR1" || string(b[len(b)-4:]) != "PAR1" {
		t.Errorf("Parquet with no flow is not a Parquet file: % x", b)
	}
}

// numbered returns n copies of the test flows with ids 0..n-1.
func numbered(n int) []*flow.Flow {
	var out []*flow.Flow
	for i := range n {
		f := *testFlows()[i%3]
		f.ID = uint64(i)
		out = append(out, &f)
	}
	return out
}

func TestCreateChunks(t *testing.T) {
	for _, c := range []struct {
		name           string
		perFile, rot   int
		flows          int
		want           map[string][]string // file → ids
		wantNoFileLike string
	}{
		{"one file", 0, 0, 5, map[string][]string{"flows.csv": {"0", "1", "2", "3", "4"}}, ""},
		{"chunks", 2, 0, 5, map[string][]string{"flows.0.csv": {"0", "1"}, "flows.1.csv": {"2", "3"}, "flows.2.csv": {"4"}}, ""},
		{"exact", 2, 0, 4, map[string][]string{"flows.0.csv": {"0", "1"}, "flows.1.csv": {"2", "3"}}, ""},
		{"rotate", 2, 2, 7, map[string][]string{"flows.0.csv": {"4", "5"}, "flows.1.csv": {"6"}}, ""},
		{"rotate ignored without chunks", 0, 3, 2, map[string][]string{"flows.csv": {"0", "1"}}, ""},
		{"no flow", 2, 0, 0, map[string][]string{"flows.0.csv": nil}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := Create(filepath.Join(dir, "flows.csv"), Schema{}.Columns(), Options{FlowsPerFile: c.perFile, RotateFiles: c.rot})
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, w, numbered(c.flows))
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			var wantNames []string
			for n := range c.want {
				wantNames = append(wantNames, n)
			}
			slices.Sort(wantNames)
			if !slices.Equal(names, wantNames) {
				t.Fatalf("files %v, want %v", names, wantNames)
			}
			for name, ids := range c.want {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
				if !strings.HasPrefix(lines[0], "id,expiration_id,") {
					t.Errorf("%s: header %q", name, lines[0])
				}
				var got []string
				for _, l := range lines[1:] {
					got = append(got, strings.SplitN(l, ",", 2)[0])
				}
				if !slices.Equal(got, ids) {
					t.Errorf("%s: ids %v, want %v", name, got, ids)
				}
			}
		})
	}
}

func TestCreateFormatFromName(t *testing.T) {
	dir := t.TempDir()
	cols := Schema{}.Columns()
	for name, magic := range map[string]string{"a.parquet": "PAR1", "a.jsonl": `{"id":0,`, "a.csv": "id,", "a": "id,"} {
		w, err := Create(filepath.Join(dir, name), cols, Options{})
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, w, testFlows()[:1])
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if !bytes.HasPrefix(b, []byte(magic)) {
			t.Errorf("%s starts with %q, want %q", name, b[:min(len(b), 10)], magic)
		}
	}
	if _, err := Create(filepath.Join(dir, "a.txt"), cols, Options{}); !errors.Is(err, ErrFormat) {
		t.Errorf("Create(a.txt) error %v, want ErrFormat", err)
	}
	if _, err := Create(filepath.Join(dir, "missing", "a.csv"), cols, Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Create in a missing directory: error %v, want it at once", err)
	}
	if _, err := New(&bytes.Buffer{}, cols, Options{FlowsPerFile: 3}); !errors.Is(err, ErrOptions) {
		t.Errorf("New with FlowsPerFile: error %v, want ErrOptions", err)
	}
}

// Parquet's memory does not grow with the number of flows: the live heap
// after 30,000 flows is that after 3,000 (row groups of 1,000 flows).
func TestParquetMemoryFlat(t *testing.T) {
	flows := testFlows()
	w, err := New(io.Discard, testSchema.Columns(), Options{Format: FormatParquet, RowGroupRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var peak uint64
	write := func(n int) uint64 {
		for i := range n {
			if err := w.Write(flows[i%3]); err != nil {
				t.Fatal(err)
			}
			if i%500 == 499 {
				// Measured with the encoding goroutine caught up, so
				// that its pace does not move the numbers.
				w.(*output).enc.(*parquetWriter).settle()
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
		return peak
	}
	early := write(3000)
	late := write(27000)
	if late > early+early/4+2<<20 {
		t.Errorf("live heap grew from %d to %d bytes between 3,000 and 30,000 flows", early, late)
	}
	t.Logf("live heap: %.1f MiB after 3,000 flows, %.1f MiB after 30,000", float64(early)/(1<<20), float64(late)/(1<<20))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
