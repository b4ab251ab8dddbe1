// Package plugintest runs captures through the meter with plugins, for the
// plugins' tests. It stays below the root package so that the plugins can
// be tested without the whole pipeline.
package plugintest

import (
	"errors"
	"io"
	"testing"

	"github.com/nfstream-go/nfstream/capture"
	"github.com/nfstream-go/nfstream/decode"
	"github.com/nfstream-go/nfstream/flow"
)

// Run meters the capture at path with cfg and returns the flows in emission
// order, with their IDs set. Zero timeouts in cfg are replaced by NFStream's
// defaults (120 s idle, 1800 s active); tunnels are decoded, as by default.
// Plugins' Cleanup is called at the end.
func Run(tb testing.TB, path string, cfg flow.Config) []*flow.Flow {
	tb.Helper()
	flows, err := run(path, cfg)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return flows
}

func run(path string, cfg flow.Config) ([]*flow.Flow, error) {
	if cfg.IdleTimeoutMs == 0 {
		cfg.IdleTimeoutMs = 120_000
	}
	if cfg.ActiveTimeoutMs == 0 {
		cfg.ActiveTimeoutMs = 1_800_000
	}
	defer func() {
		for _, p := range cfg.Plugins {
			p.Cleanup()
		}
	}()
	var flows []*flow.Flow
	m := flow.NewMeter(cfg, func(f *flow.Flow) {
		f.ID = uint64(len(flows))
		flows = append(flows, f)
	})
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var (
		rec capture.Record
		pkt decode.Packet
		dec = decode.Decoder{DecodeTunnels: true}
	)
	for {
		err := src.Next(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			var fe *capture.FormatError
			if errors.As(err, &fe) && !errors.Is(err, capture.ErrNotCapture) {
				continue // damaged record: skipped, as the streamer does
			}
			return nil, err
		}
		pkt.TimeMs = rec.TimeMs()
		if dec.Decode(rec.Data, rec.WireLen, rec.LinkType, &pkt) {
			m.Process(&pkt)
		}
	}
	m.Flush()
	return flows, nil
}

// Packets returns the decoded packets of the capture at path (at most
// max, 0 for all), each with its own copy of the IP bytes: seeds for fuzz
// targets.
func Packets(tb testing.TB, path string, max int) []decode.Packet {
	tb.Helper()
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	defer src.Close()
	var (
		rec capture.Record
		pkt decode.Packet
		dec = decode.Decoder{DecodeTunnels: true}
		out []decode.Packet
	)
	for max == 0 || len(out) < max {
		err := src.Next(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			continue
		}
		pkt.TimeMs = rec.TimeMs()
		if dec.Decode(rec.Data, rec.WireLen, rec.LinkType, &pkt) {
			p := pkt
			p.IP = append([]byte(nil), pkt.IP...)
			out = append(out, p)
		}
	}
	return out
}
