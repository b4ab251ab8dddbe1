package export

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/nfstream-go/nfstream/flow"
)

func TestJSONL(t *testing.T) {
	var buf bytes.Buffer
	w, err := New(&buf, testSchema.Columns(), Options{Format: FormatJSONL})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, withUDPS(testFlows()))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	names := append(Names(testSchema.Columns()), "udps.count", "udps.ratio", "udps.label", "udps.sizes", "udps.names")
	for i, line := range lines {
		// Keys in column order.
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		if tok, _ := dec.Token(); tok != json.Delim('{') {
			t.Fatalf("line %d does not start an object", i)
		}
		for k := 0; dec.More(); k++ {
			key, _ := dec.Token()
			if k >= len(names) || key != names[k] {
				t.Fatalf("line %d: key %d is %v, want %q", i, k, key, names[min(k, len(names)-1)])
			}
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("line %d, %v: %v", i, key, err)
			}
		}
	}
	var first map[string]any
	d := json.NewDecoder(strings.NewReader(lines[0]))
	d.UseNumber()
	if err := d.Decode(&first); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"id":                    json.Number("0"),
		"src_ip":                "10.0.0.1",
		"src_mac":               "00:1b:21:0a:0b:0c",
		"src_oui":               "00:1b:21",
		"dst_port":              json.Number("443"),
		"bidirectional_bytes":   json.Number("1612"),
		"bidirectional_mean_ps": json.Number("537.3333333333334"),
		"dst2src_stddev_ps":     json.Number("0.0"), // a float stays a float
		"splt_ps":               []any{json.Number("60"), json.Number("1500"), json.Number("52"), json.Number("-1")},
		"requested_server_name": `say "hi", ok`,
		"user_agent":            "Mozilla/5.0\n(X11; Linux)",
		"content_type":          `text/html; charset="utf-8"`,
		"server_fingerprint":    "",
		"udps.count":            json.Number("0"),
		"udps.ratio":            json.Number("0.0"),
		"udps.label":            `a "b"`,
		"udps.sizes":            []any{json.Number("0"), json.Number("-1")},
		"udps.names":            []any{},
	} {
		if !reflect.DeepEqual(first[k], want) {
			t.Errorf("%s = %#v, want %#v", k, first[k], want)
		}
	}
	if !strings.Contains(lines[1], `"requested_server_name":"café.example ☕"`) ||
		!strings.Contains(lines[1], `"server_fingerprint":"back\\slash"`) ||
		!strings.Contains(lines[1], `"src_ip":"2001:db8::1","src_mac"`) ||
		!strings.Contains(lines[1], `"dst_ip":"::ffff:1.2.3.4"`) ||
		!strings.Contains(lines[1], `"udps.names":["x.local"]`) {
		t.Errorf("line 1:\n%s", lines[1])
	}
}

func TestJSONLFloats(t *testing.T) {
	cols := []Column{floatCol("x", func(f *flow.Flow) float64 { return math.Float64frombits(f.ID) })}
	for _, c := range []struct {
		v    float64
		want string
	}{
		{math.NaN(), `{"x":null}`},
		{math.Inf(1), `{"x":null}`},
		{math.Inf(-1), `{"x":null}`},
		{1e-05, `{"x":1e-05}`},
		{1.5e16, `{"x":1.5e+16}`},
		{2, `{"x":2.0}`},
	} {
		var buf bytes.Buffer
		w, _ := New(&buf, cols, Options{Format: FormatJSONL})
		writeAll(t, w, []*flow.Flow{{ID: math.Float64bits(c.v)}})
		if got := strings.TrimSpace(buf.String()); got != c.want {
			t.Errorf("%v: %s, want %s", c.v, got, c.want)
		}
		if !json.Valid(buf.Bytes()) {
			t.Errorf("%v: invalid JSON %s", c.v, buf.String())
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "\x00\x01\x1f\x7f", "tab\tnl\ncr\r", "é☕𝄞", "bad\xff\xfe utf8", "\u2028\u2029", "a\xe2\x82"} {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("%q → %s: %v", s, b, err)
			continue
		}
		// Each invalid byte becomes U+FFFD, as bytes.Runes does.
		want := string(bytes.Runes([]byte(s)))
		if got != want {
			t.Errorf("%q → %s → %q, want %q", s, b, got, want)
		}
	}
}

func TestWriteAllocs(t *testing.T) {
	f := testFlows()[0]
	for _, format := range []Format{FormatCSV, FormatJSONL} {
		w, err := New(io.Discard, testSchema.Columns(), Options{Format: format})
		if err != nil {
			t.Fatal(err)
		}
		_ = w.Write(f) // header, buffers
		if n := testing.AllocsPerRun(200, func() { _ = w.Write(f) }); n != 0 {
			t.Errorf("%v: %v allocations per flow", format, n)
		}
	}
}

// BenchmarkWrite is the cost of a flow through each writer, Close
// included: written directly (Parquet encodes on a goroutine of its own),
// and through Background as the command writes files (batches of 512
// encoded on several goroutines; wall time per flow).
func BenchmarkWrite(b *testing.B) {
	flows := testFlows()
	for _, format := range []Format{FormatCSV, FormatJSONL, FormatParquet} {
		for _, background := range []bool{false, true} {
			name := format.String()
			if background {
				name += "-background"
			}
			b.Run(name, func(b *testing.B) {
				w, err := New(io.Discard, testSchema.Columns(), Options{Format: format})
				if err != nil {
					b.Fatal(err)
				}
				if background {
					w = Background(w, 512)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if err := w.Write(flows[i%3]); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
