package export

import (
	"bytes"
	"errors"
	"testing"

	"github.com/nfstream-go/nfstream/flow"
)

// TestBackgroundSameOutput: a CSV written through Background, with batches
// that do not divide the flow count, is byte for byte the direct one.
func TestBackgroundSameOutput(t *testing.T) {
	flows := testFlows()
	var direct, bg bytes.Buffer
	d, err := New(&direct, testSchema.Columns(), Options{Format: FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(&bg, testSchema.Columns(), Options{Format: FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	b := Background(w, 7)
	for i := range 1000 {
		if err := d.Write(flows[i%len(flows)]); err != nil {
			t.Fatal(err)
		}
		if err := b.Write(flows[i%len(flows)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if direct.Len() < 1000 || !bytes.Equal(direct.Bytes(), bg.Bytes()) {
		t.Fatalf("background output differs (%d bytes, direct %d)", bg.Len(), direct.Len())
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
