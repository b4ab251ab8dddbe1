package ndpi

import "testing"

func TestMapConfidence(t *testing.T) {
	for in, want := range map[uint8]uint8{0: 0, 1: 1, 2: 1, 3: 5, 4: 6, 5: 0, 255: 0} {
		if got := mapConfidence(in); got != want {
			t.Errorf("mapConfidence(%d) = %d, want %d", in, got, want)
		}
	}
}
