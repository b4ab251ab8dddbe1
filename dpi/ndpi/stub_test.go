//go:build !cgo || nondpi

package ndpi

import (
	"errors"
	"testing"

	"github.com/nfstream-go/nfstream/dpi"
)

func TestNewUnavailable(t *testing.T) {
	e, err := New()
	if e != nil || !errors.Is(err, dpi.ErrUnavailable) {
		t.Fatalf("New() = %v, %v; want nil, ErrUnavailable", e, err)
	}
}

func TestAvailableFalse(t *testing.T) {
	if Available {
		t.Fatal("Available is true in a build without nDPI")
	}
}
