package nfstream_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/dpi"
	"github.com/nfstream-go/nfstream/dpi/ndpi"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
	"github.com/nfstream-go/nfstream/plugins"
)

// FuzzPipeline feeds arbitrary capture bytes through the whole pipeline:
// reader, decoder, meter with every feature group, nDPI and the built-in
// plugins. It must never panic or hang, and every metered packet must end
// up in exactly one flow. The seeds are the corpus captures (first 64 KiB of
// each) and the project's own demo capture.
func FuzzPipeline(f *testing.F) {
	if demo, err := os.ReadFile("testdata/demo.pcap"); err == nil {
		f.Add(demo)
	}
	if os.Getenv("NFSTREAM_SHARED") != "" || dirExists("../shared") {
		paths, _ := filepath.Glob(filepath.Join(testcorpus.Root(f), "testdata", "nfstream", "pcaps", "*"))
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data[:min(len(data), 64<<10)])
			}
		}
	}
	engine, err := ndpi.New()
	var dissector *dpi.Dissector
	if err == nil {
		defer engine.Close()
		dissector, _ = dpi.NewDissector(engine, 20, true)
	}
	reg := plugins.Builtins()
	f.Fuzz(func(t *testing.T, data []byte) {
		pls, err := reg.BuildAll([]string{"splt:sequence_length=8", "dhcp", "mdns", "ja4", "flowslicer:limit=50"})
		if err != nil {
			t.Fatal(err)
		}
		var flows, packets, metered uint64
		m := flow.NewMeter(flow.Config{IdleTimeoutMs: 1000, ActiveTimeoutMs: 5000, StatisticalAnalysis: true,
			SPLTAnalysis: 4, Dissector: dissector, Plugins: pls}, func(fl *flow.Flow) {
			flows++
			packets += fl.BidirectionalPackets
		})
		src, err := capture.NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		defer src.Close()
		var rec capture.Record
		var p decode.Packet
		d := decode.Decoder{DecodeTunnels: true}
		for range 100_000 {
			err := src.Next(&rec)
			if errors.Is(err, io.EOF) {
				break
			}
			var fe *capture.FormatError
			if err != nil && !errors.As(err, &fe) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			if err != nil {
				continue
			}
			p.TimeMs = rec.TimeMs()
			if d.Decode(rec.Data, rec.WireLen, rec.LinkType, &p) {
				m.Process(&p)
				metered++
			}
		}
		m.Flush()
		if packets != metered {
			t.Fatalf("%d packets metered, %d in %d flows", metered, packets, flows)
		}
		if engine != nil && engine.LiveFlows() != 0 {
			t.Fatalf("%d nDPI flows still allocated after the flush", engine.LiveFlows())
		}
	})
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
