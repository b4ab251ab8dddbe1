package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// TestOpenFilesOneFlow: NFStream's test_multi_files reads one_flow.pcap cut
// in four files; as one stream they give the records of one_flow.pcap, with
// the file index and the per-file record number.
func TestOpenFilesOneFlow(t *testing.T) {
	parts := []string{"one_flow_1_5.pcap", "one_flow_6_10.pcap", "one_flow_11_15.pcap", "one_flow_16_19.pcap"}
	var paths []string
	for _, p := range parts {
		paths = append(paths, testcorpus.Pcap(t, p))
	}
	s, err := OpenFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := drain(t, s, 100)
	want := drain(t, openCorpus(t, "one_flow.pcap"), 100)
	if len(got) != 19 || len(want) != 19 {
		t.Fatalf("%d records from the parts, %d from the whole; want 19", len(got), len(want))
	}
	wantFile := []int{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3}
	wantNumber := []uint64{1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4}
	for i := range got {
		if got[i].err != nil || got[i].rec != want[i].rec || !bytes.Equal(got[i].data, want[i].data) {
			t.Errorf("record %d: %v, want %v", i+1, got[i], want[i])
		}
		if got[i].file != wantFile[i] || got[i].number != wantNumber[i] {
			t.Errorf("record %d: File %d Number %d, want %d %d", i+1, got[i].file, got[i].number, wantFile[i], wantNumber[i])
		}
	}
}

// TestOpenFilesLinkTypes: each record carries its own file's link type.
func TestOpenFilesLinkTypes(t *testing.T) {
	names := []string{"mdns.pcap", "nats.pcap", "raw.pcap", "dhcp.pcapng", "dlt_ppp.pcap"}
	var paths []string
	for _, n := range names {
		paths = append(paths, testcorpus.Pcap(t, n))
	}
	s, err := OpenFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	count := map[[2]int]int{}
	for _, it := range drain(t, s, 1000) {
		if it.err != nil {
			t.Fatal(it.err)
		}
		count[[2]int{it.file, int(it.rec.Link)}]++
	}
	want := map[[2]int]int{{0, 113}: 292, {1, 0}: 27, {2, 12}: 1, {3, 1}: 4, {4, 9}: 1}
	if len(count) != len(want) {
		t.Fatalf("records per (file, link type) %v, want %v", count, want)
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("file %d link type %d: %d records, want %d", k[0], k[1], count[k], n)
		}
	}
}

// TestOpenFilesErrors: a damaged file ends with a *FormatError and the list
// goes on; a later file that cannot be opened gives an *OpenError after all
// the records of the earlier files, and ends the list.
func TestOpenFilesErrors(t *testing.T) {
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.pcap")
	file := newPcap(le, magicMicro, 65535, 1).rec(1, 0, 60, frame(0, 60)).rec(2, 0, 60, frame(1, 60)).bytes()
	if err := os.WriteFile(truncated, file[:150], 0o644); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "text.pcap")
	if err := os.WriteFile(text, []byte("not a capture at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pcap")
	nats := testcorpus.Pcap(t, "nats.pcap") // 27 records

	t.Run("damaged file then a good one", func(t *testing.T) {
		s, err := OpenFiles([]string{truncated, nats})
		if err != nil {
			t.Fatal(err)
		}
		items := drain(t, s, 100)
		if len(items) != 1+1+27 {
			t.Fatalf("%d items, want 29", len(items))
		}
		formatErr(t, items[1].err, 2, 100, "record cut short", ErrTruncated)
		if items[2].file != 1 || items[2].number != 1 || items[28].file != 1 || items[28].number != 27 {
			t.Errorf("records of the second file: %+v ... %+v", items[2], items[28])
		}
	})
	for _, tt := range []struct {
		name     string
		later    string
		sentinel error
	}{
		{"missing later file", missing, os.ErrNotExist},
		{"later file not a capture", text, ErrNotCapture},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenFiles([]string{nats, tt.later, nats})
			if err != nil {
				t.Fatal(err)
			}
			items := drain(t, s, 100)
			if len(items) != 28 || len(records(items)) != 27 {
				t.Fatalf("%d items, want 27 records and an error", len(items))
			}
			var oe *OpenError
			if err := items[27].err; !errors.As(err, &oe) || oe.File != 1 || oe.Path != tt.later || !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v, want an *OpenError for file 1 wrapping %v", err, tt.sentinel)
			}
			var r Record
			if err := s.Next(&r); err != io.EOF {
				t.Errorf("Next after the *OpenError: %v, want io.EOF", err)
			}
		})
	}
	t.Run("missing first file", func(t *testing.T) {
		_, err := OpenFiles([]string{missing, nats})
		var oe *OpenError
		if !errors.As(err, &oe) || oe.File != 0 || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("OpenFiles = %v, want an *OpenError for file 0", err)
		}
	})
	t.Run("no files", func(t *testing.T) {
		if _, err := OpenFiles(nil); err == nil {
			t.Error("OpenFiles(nil) succeeded")
		}
	})
	t.Run("close", func(t *testing.T) {
		s, err := OpenFiles([]string{nats, nats})
		if err != nil {
			t.Fatal(err)
		}
		var r Record
		if err := s.Next(&r); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Next(&r); err != io.EOF {
			t.Errorf("Next after Close: %v, want io.EOF", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}
