package capture

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// readAll returns every record (copied) and the error that ended src.
func readAll(t *testing.T, src Source) ([]Record, error) {
	t.Helper()
	defer src.Close()
	var recs []Record
	for {
		var rec Record
		err := src.Next(&rec)
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		rec.Data = bytes.Clone(rec.Data)
		recs = append(recs, rec)
	}
}

// TestPrefetchSameAsPlain reads files through Open (regular files are read
// ahead in chunks handed to the parser, prefetch.go) and the same bytes
// through NewReader (plain reads), and wants the same records and the same
// final error: on a pcap of records up to the snapshot length (records
// cut by every kind of chunk boundary), on a pcapng with blocks far larger
// than a chunk (stitched), on both cut short at many offsets, and on
// every capture of the corpus when present.
func TestPrefetchSameAsPlain(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := newPcap(le, magicMicro, MaxSnapLen, 1)
	for i := range 3000 {
		n := 14 + rng.IntN(1500)
		if i%40 == 0 {
			n = 14 + rng.IntN(MaxSnapLen-14)
		}
		p.rec(uint32(i), 0, uint32(n), frame(byte(i), n))
	}
	ng := &ngFile{}
	ng.shb(le).idb(1, MaxSnapLen)
	var comments []ngOpt
	for i := range 45 { // a 2.7 MiB block: spans three chunks
		comments = append(comments, ngOpt{1, frame(byte(i), 60000)})
	}
	for i := range 2000 {
		var opts []ngOpt
		if i == 500 || i == 1500 {
			opts = comments
		}
		n := 14 + rng.IntN(3000)
		ng.epb(0, uint64(i)*1000, uint32(n), frame(byte(i), n), opts...)
	}
	whole := []struct {
		name string
		data []byte
	}{{"records.pcap", p.bytes()}, {"blocks.pcapng", ng.buf}}
	files := map[string][]byte{}
	for _, w := range whole { // in order: the cuts are the same every run
		name, data := w.name, w.data
		files[name] = data
		for k := range 12 {
			cut := rng.IntN(len(data))
			if k == 0 {
				cut = chunkData + 3 // just past the first chunk
			}
			files[fmt.Sprintf("%s-cut-%d", name, cut)] = data[:cut]
		}
	}
	records := comparePrefetch(t, files)
	if records < 5000 {
		t.Errorf("only %d records compared", records)
	}
	t.Logf("%d files, %d records compared", len(files), records)

	t.Run("corpus", func(t *testing.T) {
		dir := filepath.Join(testcorpus.Root(t), "testdata", "nfstream", "pcaps")
		matches, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil || len(matches) < 100 {
			t.Fatalf("%d captures in %s: %v", len(matches), dir, err)
		}
		corpus := map[string][]byte{}
		for _, m := range matches {
			data, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			corpus[filepath.Base(m)] = data
		}
		t.Logf("corpus: %d records compared", comparePrefetch(t, corpus))
	})
}

// comparePrefetch writes each file and reads it both ways, reporting any
// difference; it returns how many records were compared.
func comparePrefetch(t *testing.T, files map[string][]byte) int {
	t.Helper()
	dir := t.TempDir()
	records := 0
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var fromFile, fromBytes []Record
		var errFile, errBytes error
		if src, err := Open(path); err != nil {
			errFile = err
		} else {
			if src.(*reader).in.pre == nil {
				t.Fatalf("%s: a regular file is not read ahead", name)
			}
			fromFile, errFile = readAll(t, src)
		}
		if src, err := NewReader(bytes.NewReader(data), path); err != nil {
			errBytes = err
		} else {
			fromBytes, errBytes = readAll(t, src)
		}
		if (errFile == nil) != (errBytes == nil) || errFile != nil && errFile.Error() != errBytes.Error() {
			t.Errorf("%s: read ahead ends with %v, plain reads with %v", name, errFile, errBytes)
		}
		if len(fromFile) != len(fromBytes) {
			t.Errorf("%s: %d records read ahead, %d with plain reads", name, len(fromFile), len(fromBytes))
			continue
		}
		for i := range fromFile {
			a, b := fromFile[i], fromBytes[i]
			if !bytes.Equal(a.Data, b.Data) || a.WireLen != b.WireLen || a.Sec != b.Sec || a.Nsec != b.Nsec || a.LinkType != b.LinkType || a.Number != b.Number {
				t.Errorf("%s: record %d differs", name, i+1)
				break
			}
		}
		records += len(fromFile)
	}
	return records
}
