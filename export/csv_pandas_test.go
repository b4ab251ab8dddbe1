package export

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// pandasPython is Debian's interpreter, which has python3-pandas (the
// python3 first on PATH may be another one, without pandas).
const pandasPython = "/usr/bin/python3"

// needPandas skips the test when Debian's pandas is missing, except in CI
// (CI=true), where its absence is a failure: scripts/setup.sh test
// installs it.
func needPandas(t *testing.T) {
	t.Helper()
	err := exec.Command(pandasPython, "-c", "import pandas").Run()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s cannot import pandas (%v): install python3-pandas (scripts/setup.sh test)", pandasPython, err)
	}
	t.Skipf("%s cannot import pandas (%v); install python3-pandas to run this test", pandasPython, err)
}

// readPandas reads a CSV file with pandas.read_csv (default options, as
// NFStream's to_pandas) and returns the dtypes, the row count and the
// values of the given columns (NaN as null).
const readPandas = `
import json, sys
import pandas as pd
df = pd.read_csv(sys.argv[1])
cols = sys.argv[2].split(",")
out = {
    "rows": len(df),
    "columns": list(df.columns),
    "dtypes": {c: str(t) for c, t in df.dtypes.items()},
    "values": {c: [None if (isinstance(v, float) and v != v) else (v.item() if hasattr(v, "item") else v)
                   for v in df[c].tolist()] for c in cols},
    "splt_ps": [json.loads(s) for s in df["splt_ps"]],
}
print(json.dumps(out))
`

func TestCSVReadByPandas(t *testing.T) {
	needPandas(t)
	path := filepath.Join(t.TempDir(), "flows.csv")
	w, err := Create(path, testSchema.Columns(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, withUDPS(testFlows()))

	cols := []string{"id", "src_ip", "dst_ip", "src_port", "bidirectional_mean_ps", "splt_direction",
		"requested_server_name", "user_agent", "content_type", "server_fingerprint",
		"udps.count", "udps.ratio", "udps.label", "udps.sizes", "udps.names"}
	out, err := exec.Command(pandasPython, "-c", readPandas, path, strings.Join(cols, ",")).Output()
	if err != nil {
		t.Fatalf("pandas: %v\n%s", err, exitStderr(err))
	}
	var got struct {
		Rows    int
		Columns []string
		Dtypes  map[string]string
		Values  map[string][]any
		SPLTPs  [][]int `json:"splt_ps"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Rows != 3 {
		t.Errorf("pandas read %d rows, want 3", got.Rows)
	}
	wantCols := append(Names(testSchema.Columns()), "udps.count", "udps.ratio", "udps.label", "udps.sizes", "udps.names")
	if !reflect.DeepEqual(got.Columns, wantCols) {
		t.Errorf("columns\n got %v\nwant %v", got.Columns, wantCols)
	}
	for name, want := range map[string]string{
		"id": "int64", "expiration_id": "int64", "src_ip": "object", "src_port": "int64", "vlan_id": "int64",
		"bidirectional_first_seen_ms": "int64", "bidirectional_mean_ps": "float64", "bidirectional_stddev_piat_ms": "float64",
		"bidirectional_syn_packets": "int64", "splt_direction": "object", "splt_piat_ms": "object",
		"application_name": "object", "application_is_guessed": "int64", "requested_server_name": "object",
		"udps.count": "int64", "udps.ratio": "float64", "udps.label": "object", "udps.sizes": "object", "udps.names": "object",
	} {
		if got.Dtypes[name] != want {
			t.Errorf("dtype of %s = %s, want %s", name, got.Dtypes[name], want)
		}
	}
	for name, want := range map[string][]any{
		"id":                    {0.0, 1.0, 2.0},
		"src_ip":                {"10.0.0.1", "2001:db8::1", "10.0.0.1"},
		"dst_ip":                {"93.184.216.34", "::ffff:1.2.3.4", "10.0.0.2"},
		"src_port":              {51234.0, 5353.0, 0.0},
		"bidirectional_mean_ps": {537.3333333333334, 90.0, 98.0},
		"splt_direction":        {"[0, 1, 0, -1]", "[0, -1, -1, -1]", "[0, 1, -1, -1]"},
		"requested_server_name": {`say "hi", ok`, "café.example ☕", nil},
		"user_agent":            {"Mozilla/5.0\n(X11; Linux)", nil, nil},
		"content_type":          {`text/html; charset="utf-8"`, nil, nil},
		"server_fingerprint":    {nil, `back\slash`, nil},
		"udps.count":            {0.0, 10.0, 20.0},
		"udps.ratio":            {0.0, 0.25, 0.5},
		"udps.label":            {`a "b"`, "c,d", nil},
		"udps.sizes":            {"[0, -1]", "[1, -1]", "[2, -1]"},
		"udps.names":            {"[]", "['x.local']", `['x.local', "it's"]`},
	} {
		if !reflect.DeepEqual(got.Values[name], want) {
			t.Errorf("%s = %#v, want %#v", name, got.Values[name], want)
		}
	}
	if want := [][]int{{60, 1500, 52, -1}, {90, -1, -1, -1}, {98, 98, -1, -1}}; !reflect.DeepEqual(got.SPLTPs, want) {
		t.Errorf("splt_ps decoded with json.loads = %v, want %v", got.SPLTPs, want)
	}
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
