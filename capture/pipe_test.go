//go:build unix

package capture

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

// feed writes data to w in small chunks from another goroutine, then closes w.
func feed(t *testing.T, open func() (*os.File, error), data []byte) chan error {
	done := make(chan error, 1)
	go func() {
		w, err := open()
		if err != nil {
			done <- err
			return
		}
		for len(data) > 0 {
			n := min(len(data), 1000)
			if _, err := w.Write(data[:n]); err != nil {
				w.Close()
				done <- err
				return
			}
			data = data[n:]
		}
		done <- w.Close()
	}()
	return done
}

// TestFIFO reads captures through a named pipe, which cannot seek.
func TestFIFO(t *testing.T) {
	for _, tt := range []struct {
		name    string
		records int
	}{
		{"facebook.pcap", 60},
		{"dhcp_big_endian.pcapng", 4},
		{"1kxun.pcap", 1439},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, err := os.ReadFile(testcorpus.Pcap(t, tt.name))
			if err != nil {
				t.Fatal(err)
			}
			fifo := filepath.Join(t.TempDir(), "fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			done := feed(t, func() (*os.File, error) { return os.OpenFile(fifo, os.O_WRONLY, 0) }, data)
			s, err := Open(fifo)
			if err != nil {
				t.Fatal(err)
			}
			got := drain(t, s, 10000)
			if err := s.Close(); err != nil {
				t.Error(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			want := drain(t, openCorpus(t, tt.name), 10000)
			if len(got) != tt.records || !sameItems(got, want) {
				t.Errorf("%d records through the FIFO, want %d identical to the file's", len(got), tt.records)
			}
		})
	}
}

// TestPipeAndStdin reads a capture from an os.Pipe, with NewReader and as
// standard input with Open("-").
func TestPipeAndStdin(t *testing.T) {
	data, err := os.ReadFile(testcorpus.Pcap(t, "google_ssl.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	want := drain(t, openCorpus(t, "google_ssl.pcap"), 100)

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := feed(t, func() (*os.File, error) { return pw, nil }, data)
	s, err := NewReader(pr, "pipe")
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, 100); len(got) != 28 || !sameItems(got, want) {
		t.Errorf("%d records from the pipe, want 28", len(got))
	}
	s.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := pr.Close(); err != nil {
		t.Errorf("the pipe was closed by the Source: %v", err)
	}

	pr, pw, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin := os.Stdin
	os.Stdin = pr
	defer func() { os.Stdin = stdin }()
	done = feed(t, func() (*os.File, error) { return pw, nil }, data)
	s, err = Open("-")
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s, 100); len(got) != 28 || !sameItems(got, want) {
		t.Errorf("%d records from standard input, want 28", len(got))
	}
	s.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := pr.Close(); err != nil {
		t.Errorf("standard input was closed by the Source: %v", err)
	}
}
