// Package testcorpus locates the shared conformance corpus for tests.
//
// The corpus lives outside the repository (NFStream's captures and results
// must not be copied in). Its root is $NFSTREAM_SHARED, or the folder named
// "shared" beside the module root. When it is missing, tests skip, unless
// REQUIRE_SHARED=1, in which case they fail.
package testcorpus

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Root returns the corpus root (the folder holding testdata/nfstream), or
// skips (or fails with REQUIRE_SHARED=1) the test when it is absent.
func Root(tb testing.TB) string {
	tb.Helper()
	root := os.Getenv("NFSTREAM_SHARED")
	if root == "" {
		_, file, _, _ := runtime.Caller(0)
		// file is <module>/internal/testcorpus/testcorpus.go
		module := filepath.Dir(filepath.Dir(filepath.Dir(file)))
		root = filepath.Join(filepath.Dir(module), "shared")
	}
	if _, err := os.Stat(filepath.Join(root, "testdata", "nfstream", "pcaps")); err != nil {
		if os.Getenv("REQUIRE_SHARED") == "1" {
			tb.Fatalf("shared corpus not found at %s (set NFSTREAM_SHARED): %v", root, err)
		}
		tb.Skipf("shared corpus not found at %s (set NFSTREAM_SHARED to run this test)", root)
	}
	return root
}

// Pcap returns the path of a capture of the NFStream corpus by file name.
func Pcap(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Root(tb), "testdata", "nfstream", "pcaps", name)
}

// Result returns the path of NFStream's results file for a capture.
func Result(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Root(tb), "testdata", "nfstream", "results", name)
}
