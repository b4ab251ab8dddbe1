package export

import (
	"bytes"
	"errors"
	"testing"

	"github.com/nfstream-go/nfstream/flow"
)

// TestBackgroundSameOutput: CSV, JSON Lines and Parquet written through
// Background, with batches that do not divide the flow count, are byte for
// byte the direct ones; they are encoded on several goroutines, except
// with anonymised columns (one by one).
func TestBackgroundSameOutput(t *testing.T) {
	flows := testFlows()
	cases := []struct {
		name     string
		opts     Options
		flows    int
		parallel bool
	}{
		{"csv", Options{Format: FormatCSV}, 1000, true},
		{"jsonl", Options{Format: FormatJSONL}, 1000, true},
		// Row groups end inside batches; pages end where the rows
		// written at once make them full (64 KiB), after a few
		// thousand rows.
		{"parquet", Options{Format: FormatParquet, RowGroupRows: 300}, 1000, true},
		{"parquet pages", Options{Format: FormatParquet}, 30000, true},
		{"csv anonymised", Options{Format: FormatCSV, Anonymize: []string{"src_ip"}, Key: []byte("k")}, 1000, false},
		{"parquet anonymised", Options{Format: FormatParquet, Anonymize: []string{"src_ip"}, Key: []byte("k")}, 1000, false},
	}
	for _, tc := range cases {
		var direct, bg bytes.Buffer
		d, err := New(&direct, testSchema.Columns(), tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		w, err := New(&bg, testSchema.Columns(), tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		b := Background(w, 7)
		for i := range tc.flows {
			if err := d.Write(flows[i%len(flows)]); err != nil {
				t.Fatal(err)
			}
			if err := b.Write(flows[i%len(flows)]); err != nil {
				t.Fatal(err)
			}
		}
		if parallel := b.(*background).jobs != nil; parallel != tc.parallel {
			t.Errorf("%s: encoded in parallel %v, want %v", tc.name, parallel, tc.parallel)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("%s: second Close: %v", tc.name, err)
		}
		if direct.Len() < tc.flows || !bytes.Equal(direct.Bytes(), bg.Bytes()) {
			t.Fatalf("%s: background output differs (%d bytes, direct %d)", tc.name, bg.Len(), direct.Len())
		}
	}
}

// failing accepts limit flows, then fails; it counts Close calls.
type failing struct {
	limit, written, closes int
}

var errFull = errors.New("disk full")

func (f *failing) Write(*flow.Flow) error {
	if f.written == f.limit {
		return errFull
	}
	f.written++
	return nil
}

func (f *failing) Close() error { f.closes++; return nil }

// TestBackgroundError: the wrapped writer's error comes back from a later
// Write and from Close; it gets no flow after failing and is closed once.
func TestBackgroundError(t *testing.T) {
	fw := &failing{limit: 10}
	b := Background(fw, 4)
	f := testFlows()[0]
	var werr error
	for range 1000 {
		if werr = b.Write(f); werr != nil {
			break
		}
	}
	if !errors.Is(werr, errFull) {
		t.Fatalf("Write returned %v, want the writer's error", werr)
	}
	if err := b.Close(); !errors.Is(err, errFull) {
		t.Fatalf("Close returned %v, want the writer's error", err)
	}
	if fw.written != 10 || fw.closes != 1 {
		t.Fatalf("writer got %d flows and %d Close calls, want 10 and 1", fw.written, fw.closes)
	}
}

// shortDisk accepts room bytes, then fails.
type shortDisk struct{ room int }

func (s *shortDisk) Write(p []byte) (int, error) {
	if len(p) > s.room {
		n := s.room
		s.room = 0
		return n, errFull
	}
	s.room -= len(p)
	return len(p), nil
}

// TestBackgroundBatchesError: when the file fails under batches encoded
// in parallel (CSV lines, Parquet rows), the error comes back from a later
// Write and from Close.
func TestBackgroundBatchesError(t *testing.T) {
	for _, opts := range []Options{{Format: FormatCSV}, {Format: FormatParquet, RowGroupRows: 1000}} {
		w, err := New(&shortDisk{room: 300 << 10}, testSchema.Columns(), opts)
		if err != nil {
			t.Fatal(err)
		}
		b := Background(w, 16)
		flows := testFlows()
		var werr error
		for i := 0; i < 200000 && werr == nil; i++ {
			werr = b.Write(flows[i%len(flows)])
		}
		if !errors.Is(werr, errFull) {
			t.Errorf("%v: Write returned %v, want the file's error", opts.Format, werr)
		}
		if b.(*background).jobs == nil {
			t.Errorf("%v: not encoded in parallel", opts.Format)
		}
		// Writes after the error keep returning it and hold no flows.
		for i := range 1000 {
			if err := b.Write(flows[i%len(flows)]); !errors.Is(err, errFull) && err != nil {
				t.Fatalf("%v: write %d after the error: %v", opts.Format, i, err)
			}
		}
		if n := len(b.(*background).job.flows); n >= 16 {
			t.Errorf("%v: %d flows held after the error, batches are 16", opts.Format, n)
		}
		if err := b.Close(); !errors.Is(err, errFull) {
			t.Errorf("%v: Close returned %v, want the file's error", opts.Format, err)
		}
	}
}

// TestParquetWriteError: when the file fails under the Parquet encoding
// goroutine, the error comes back from a later Write or from Close, and
// Close returns.
func TestParquetWriteError(t *testing.T) {
	w, err := New(&shortDisk{room: 64 << 10}, testSchema.Columns(), Options{Format: FormatParquet, RowGroupRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	flows := testFlows()
	var werr error
	for i := 0; i < 20000 && werr == nil; i++ {
		werr = w.Write(flows[i%len(flows)])
	}
	cerr := w.Close()
	if !errors.Is(werr, errFull) && !errors.Is(cerr, errFull) {
		t.Errorf("Write returned %v and Close %v, want the file's error", werr, cerr)
	}
	if werr == nil {
		t.Errorf("20,000 flows written to a full disk without an error from Write")
	}
}
