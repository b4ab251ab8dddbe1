package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nfstream-go/nfstream/export"
)

func TestOutputOptions(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("file key\n"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o644)
	cols := export.Schema{DecodeTunnels: true}.Columns()
	for _, c := range []struct {
		name    string
		flags   outputFlags
		path    string
		env     string
		want    export.Options
		note    string // a substring of the only note, if any
		wantErr string
	}{
		{name: "defaults", want: export.Options{}},
		{name: "format", flags: outputFlags{format: "Parquet"}, want: export.Options{Format: export.FormatParquet}},
		{name: "bad format", flags: outputFlags{format: "xml"}, wantErr: `unknown output format "xml"`},
		{name: "columns", flags: outputFlags{columns: " id, src_ip ,,dst_ip"}, want: export.Options{Columns: []string{"id", "src_ip", "dst_ip"}}},
		{name: "unknown column", flags: outputFlags{columns: "id,nope"}, wantErr: `no column "nope"`},
		{name: "chunks", path: "f.csv", flags: outputFlags{flowsPerFile: 10, rotateFiles: 3}, want: export.Options{FlowsPerFile: 10, RotateFiles: 3}},
		{name: "chunks to stdout", flags: outputFlags{flowsPerFile: 10}, wantErr: "--flows-per-file needs -o"},
		{name: "rotation alone", path: "f.csv", flags: outputFlags{rotateFiles: 3}, want: export.Options{RotateFiles: 3}, note: "no effect"},
		{name: "random key", flags: outputFlags{anonymize: "src_ip,dst_ip"}, want: export.Options{Anonymize: []string{"src_ip", "dst_ip"}}, note: "random key"},
		{name: "key flag", flags: outputFlags{anonymize: "src_ip", anonKey: "k1"}, env: "env key", want: export.Options{Anonymize: []string{"src_ip"}, Key: []byte("k1")}},
		{name: "key file", flags: outputFlags{anonymize: "src_ip", anonKeyFile: keyFile}, env: "env key", want: export.Options{Anonymize: []string{"src_ip"}, Key: []byte("file key")}},
		{name: "key env", flags: outputFlags{anonymize: "src_ip"}, env: "env key", want: export.Options{Anonymize: []string{"src_ip"}, Key: []byte("env key")}},
		{name: "env key unused", env: "env key", want: export.Options{}},
		{name: "key flag unused", flags: outputFlags{anonKey: "k"}, want: export.Options{}, note: "nothing is anonymised"},
		{name: "both keys", flags: outputFlags{anonymize: "src_ip", anonKey: "k", anonKeyFile: keyFile}, wantErr: "not both"},
		{name: "empty key file", flags: outputFlags{anonymize: "src_ip", anonKeyFile: empty}, wantErr: "is empty"},
		{name: "missing key file", flags: outputFlags{anonymize: "src_ip", anonKeyFile: filepath.Join(dir, "nope")}, wantErr: "no such file"},
		{name: "long key", flags: outputFlags{anonymize: "src_ip", anonKey: strings.Repeat("k", 65)}, wantErr: "65 bytes"},
		{name: "anonymise unknown", flags: outputFlags{anonymize: "src_addr"}, wantErr: `cannot anonymise "src_addr"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			getenv := func(name string) string {
				if name == anonKeyEnv {
					return c.env
				}
				return ""
			}
			opts, notes, err := c.flags.options(c.path, cols, getenv)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, errUsage) {
					t.Fatalf("error %v, want a usage error containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if opts.Format != c.want.Format || !slices.Equal(opts.Columns, c.want.Columns) || !slices.Equal(opts.Anonymize, c.want.Anonymize) ||
				string(opts.Key) != string(c.want.Key) || opts.FlowsPerFile != c.want.FlowsPerFile || opts.RotateFiles != c.want.RotateFiles {
				t.Errorf("options %+v, want %+v", opts, c.want)
			}
			switch {
			case c.note == "" && len(notes) > 0:
				t.Errorf("unexpected notes %q", notes)
			case c.note != "" && (len(notes) != 1 || !strings.Contains(notes[0], c.note)):
				t.Errorf("notes %q, want one containing %q", notes, c.note)
			}
		})
	}
}

func TestOutputFormats(t *testing.T) {
	dir := t.TempDir()
	for name, magic := range map[string]string{"f.parquet": "PAR1", "f.jsonl": `{"id":0,"src_ip":`, "f.csv": "id,src_ip\n0,"} {
		path := filepath.Join(dir, name)
		_, errs, status := runCmd(t, "-q", "--n-dissections", "0", "--columns", "id,src_ip", "-o", path, demo)
		if status != 0 {
			t.Fatalf("%s: status %d: %s", name, status, errs)
		}
		b, _ := os.ReadFile(path)
		if !strings.HasPrefix(string(b), magic) {
			t.Errorf("%s starts with %q, want %q", name, b[:min(20, len(b))], magic)
		}
	}
	// --format beats the extension; standard output.
	out, errs, status := runCmd(t, "-q", "--n-dissections", "0", "--format", "jsonl", "--columns", "id", demo)
	if status != 0 || !strings.HasPrefix(out, `{"id":0}`+"\n"+`{"id":1}`) {
		t.Errorf("--format jsonl to stdout: status %d, %q, %s", status, out, errs)
	}
	out, errs, status = runCmd(t, "-q", "--n-dissections", "0", "--format", "csv", "--columns", "id", "-o", "-", demo)
	if status != 0 || !strings.HasPrefix(out, "id\n0\n1\n") {
		t.Errorf("-o - is standard output: status %d, %q, %s", status, out, errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", filepath.Join(dir, "f.txt")}, "names no format"},
		{[]string{"--format", "xml"}, "unknown output format"},
		{[]string{"--columns", "id,bogus"}, `no column "bogus"`},
		{[]string{"--flows-per-file", "2"}, "needs -o"},
		{[]string{"--flows-per-file", "-1", "-o", filepath.Join(dir, "x.csv")}, "flows_per_file -1"},
	} {
		_, errs, status := runCmd(t, append(append([]string{"--n-dissections", "0"}, c.args...), demo)...)
		if status != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: status %d, stderr %q; want 2 and %q", c.args, status, errs, c.want)
		}
	}
	_, errs, status = runCmd(t, "--n-dissections", "0", "-o", filepath.Join(dir, "missing", "f.csv"), demo)
	if status != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("unwritable output: status %d, %q", status, errs)
	}
}

func TestOutputChunks(t *testing.T) {
	dir := t.TempDir()
	_, errs, status := runCmd(t, "-q", "--n-dissections", "0", "--flows-per-file", "2", "-o", filepath.Join(dir, "flows.jsonl"), demo)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errs)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	total := 0
	for _, e := range entries {
		names = append(names, e.Name())
		f, _ := os.Open(filepath.Join(dir, e.Name()))
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			n++
		}
		f.Close()
		if n > 2 {
			t.Errorf("%s has %d flows, want at most 2", e.Name(), n)
		}
		total += n
	}
	if want := []string{"flows.0.jsonl", "flows.1.jsonl", "flows.2.jsonl"}; !slices.Equal(names, want) || total != 5 {
		t.Errorf("files %v with %d flows, want %v with 5", names, total, want)
	}
}

// The same key in two runs gives the same tokens, which are those of
// export.Anonymizer; without a key, two runs differ.
func TestOutputAnonymize(t *testing.T) {
	dir := t.TempDir()
	tokens := func(args ...string) []string {
		t.Helper()
		path := filepath.Join(dir, "a.jsonl")
		args = append([]string{"-q", "--n-dissections", "0", "--columns", "src_ip,dst_ip", "--anonymize", "src_ip", "-o", path}, args...)
		if _, errs, status := runCmd(t, append(args, demo)...); status != 0 {
			t.Fatalf("status %d: %s", status, errs)
		}
		f, _ := os.Open(path)
		defer f.Close()
		var out []string
		dec := json.NewDecoder(f)
		for dec.More() {
			var m map[string]string
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if _, err := netip.ParseAddr(m["dst_ip"]); len(m["src_ip"]) != 128 || err != nil {
				t.Fatalf("src_ip %q is not a token, or dst_ip %q is not an address", m["src_ip"], m["dst_ip"])
			}
			out = append(out, m["src_ip"]+" "+m["dst_ip"])
		}
		return out
	}
	a := tokens("--anonymize-key", "k")
	t.Setenv(anonKeyEnv, "k")
	b := tokens()
	if !slices.Equal(a, b) {
		t.Errorf("same key by flag and by environment, different tokens")
	}
	ref, _ := export.NewAnonymizer([]byte("k"))
	plain, _, _ := runCmd(t, "-q", "--n-dissections", "0", "--columns", "src_ip", demo)
	first := strings.Split(plain, "\n")[1]
	if got, want := strings.Fields(a[0])[0], ref.Token(strings.Trim(first, `"`)); got != want {
		t.Errorf("token %s, want %s (of %s)", got, want, first)
	}
	t.Setenv(anonKeyEnv, "")
	if c, d := tokens(), tokens(); slices.Equal(c, d) {
		t.Error("two runs without a key gave the same tokens")
	}
}
