package dhcp

import "testing"

// TestDecodeReplace checks Python's bytes.decode("utf-8", "replace").
func TestDecodeReplace(t *testing.T) {
	const r = "\ufffd"
	for _, c := range []struct{ in, want string }{
		{"abc", "abc"},
		{"\xe2\x82", r},
		{"\xe2\x82A", r + "A"},
		{"\xe2\x82\xac", "€"},
		{"\xf0\x80\x80", r + r + r},
		{"\xed\xa0\x80", r + r + r},
		{"\xf4\x90\x80\x80", r + r + r + r},
		{"\xf0\x9f\x98", r},
		{"\xff\xfeA", r + r + "A"},
		{"\xc0\xaf", r + r},
		{"\xef\xbf\xbd", r},
	} {
		if got := decodeReplace([]byte(c.in)); got != c.want {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}
