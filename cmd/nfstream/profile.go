package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// profile is one of the command's profiling flags: start begins recording
// into the file, stop ends it (or, for allocations, writes it).
type profile struct {
	flag, path  string
	start, stop func(io.Writer) error
}

// profiles are --cpuprofile, --memprofile and --trace with their paths
// ("" when not asked for).
func profiles(cpu, mem, traceFile string) []profile {
	nothing := func(io.Writer) error { return nil }
	return []profile{
		{"cpuprofile", cpu, pprof.StartCPUProfile, func(io.Writer) error { pprof.StopCPUProfile(); return nil }},
		{"memprofile", mem, nothing, func(w io.Writer) error { return pprof.Lookup("allocs").WriteTo(w, 0) }},
		{"trace", traceFile, trace.Start, func(io.Writer) error { trace.Stop(); return nil }},
	}
}

// startProfiles creates each asked-for profile's file and starts it. It
// returns the function that stops them all (last started, first stopped)
// and closes their files, or false, after printing why, when one could not
// be started (those already started are stopped).
func startProfiles(stderr io.Writer, ps []profile) (stop func(), ok bool) {
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	for _, p := range ps {
		if p.path == "" {
			continue
		}
		f, err := os.Create(p.path)
		if err == nil {
			if err = p.start(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "nfstream: --%s: %v\n", p.flag, err)
			stopAll()
			return nil, false
		}
		stops = append(stops, func() {
			if err := p.stop(f); err != nil {
				fmt.Fprintf(stderr, "nfstream: --%s: %v\n", p.flag, err)
			}
			f.Close()
		})
	}
	return stopAll, true
}
