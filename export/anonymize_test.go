package export

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
)

// Golden tokens from Python's hashlib (an independent BLAKE2b):
// hashlib.blake2b(value.encode(), key=key, digest_size=64).hexdigest()
var anonGolden = []struct {
	key, value, token string
}{
	{"secret", "10.0.0.1", "7f8e2f82d31baa9c7c3f9df3439c9d9982b404fe2f4b8822604c37610fe15284406de10605a37164f4ee66e699fe2fe10bacb1e41ec121329b2e2727d982444f"},
	{"secret", "443", "99940b6bf136ffc4577888ff21b55325431bcd01d49729d6c6c1e998d534fea2e4b07a3084aa6d7da0abae116bef264cae965c2ad167c7bd3213061fc0077e09"},
	{"secret", "[0, 1, -1]", "fd527e8285e77a2e80c0c7a8392de94c788df4394b7d724a7217df5817020e56b8bc8e911fa3264c5447739c28fe8a643ed988e969a0a6ee56406bfd953b5917"},
	{"secret", "2001:db8::1", "be86f43a838c18fea5453b1b2b58120c254e6500be86671620f073b3ef454b330851720e528c05ec15ce1b84b6709953db7f84df668647c694f8c06db8cb90df"},
	{"secret", "", "865aca2ba0b9b941352e4680e14f543d1af37f7a3479304262a5da8c97468d9fe22636bae941d9c7b83b93efc36e82177606c72a1c00af48bb182c69d1f1abc3"},
	{string(seq64()), "10.0.0.1", "141d848cc5edea11f1b86e8f3f20fb139301fbdf59671c94d42e302d0b1d78b44cbee57b54955a92011d3f166bfd822a3ad9bf86ba5ccc1a09d30f0bf837c7ba"},
	{string(seq64()), "443", "42e41d82629db006101728839d1e7521d3fd6577e9bb759dc9a0f7a94900c6eb4bda3844fbda3f81e296493738b4dfac65c729a33722cb627d8da40ed21881df"},
}

func seq64() []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestAnonymizerGolden(t *testing.T) {
	for _, g := range anonGolden {
		a, err := NewAnonymizer([]byte(g.key))
		if err != nil {
			t.Fatal(err)
		}
		// Twice: the hash state must be reset between values.
		for range 2 {
			if got := a.Token(g.value); got != g.token {
				t.Errorf("key %q: Token(%q) = %s, want %s", g.key[:min(6, len(g.key))], g.value, got, g.token)
			}
		}
	}
	if _, err := NewAnonymizer(make([]byte, 65)); !errors.Is(err, ErrKey) {
		t.Errorf("65-byte key: error %v, want ErrKey", err)
	}
}

func TestAnonymizerRandomKey(t *testing.T) {
	a, _ := NewAnonymizer(nil)
	b, _ := NewAnonymizer(nil)
	if a.Token("10.0.0.1") == b.Token("10.0.0.1") {
		t.Error("two anonymisers without a key give the same token: the key is not random")
	}
	if a.Token("10.0.0.1") != a.Token("10.0.0.1") {
		t.Error("one anonymiser gives two tokens for one value")
	}
}

// The anonymised columns of the CSV hold the tokens of the values' Python
// str(): the address text, the port in decimal, the list as "[a, b]".
func TestAnonymizeColumns(t *testing.T) {
	key := []byte("secret")
	ref, _ := NewAnonymizer(key)
	var buf bytes.Buffer
	w, err := New(&buf, testSchema.Columns(), Options{
		Columns:   []string{"id", "src_ip", "dst_port", "splt_direction", "bidirectional_mean_ps", "udps.count", "udps.late"},
		Anonymize: []string{"src_ip", "dst_port", "splt_direction", "bidirectional_mean_ps", "udps.late"},
		Key:       key,
	})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, withUDPS(testFlows()))
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"id", "src_ip", "dst_port", "splt_direction", "bidirectional_mean_ps", "udps.count", "udps.late"},
		{"0", ref.Token("10.0.0.1"), ref.Token("443"), ref.Token("[0, 1, 0, -1]"), ref.Token("537.3333333333334"), "0", ""},
		{"1", ref.Token("2001:db8::1"), ref.Token("53"), ref.Token("[0, -1, -1, -1]"), ref.Token("90.0"), "10", ref.Token("7")},
		{"2", ref.Token("10.0.0.1"), ref.Token("0"), ref.Token("[0, 1, -1, -1]"), ref.Token("98.0"), "20", ""},
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d:\n got %q\nwant %q", i, rows[i], want[i])
		}
	}
	if rows[1][1] != anonGolden[0].token {
		t.Errorf("token of 10.0.0.1 differs from Python's")
	}
}

func TestAnonymizeSameKeyAcrossWriters(t *testing.T) {
	out := func(key []byte) string {
		var buf bytes.Buffer
		w, _ := New(&buf, testSchema.Columns(), Options{Format: FormatJSONL, Anonymize: []string{"src_ip", "dst_ip"}, Key: key})
		writeAll(t, w, testFlows())
		return buf.String()
	}
	if out([]byte("k")) != out([]byte("k")) {
		t.Error("same key, different output")
	}
	if out(nil) == out(nil) {
		t.Error("no key given, yet two exports share their tokens")
	}
}

func TestAnonymizerNoAllocs(t *testing.T) {
	a, _ := NewAnonymizer([]byte("k"))
	col := a.Column(testSchema.Columns()[2]) // src_ip
	f := testFlows()[1]
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf = col.String(buf[:0], f) }); n != 0 {
		t.Errorf("anonymising a value allocates %v times", n)
	}
}
