package parquetcheck

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/dpi"
	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/testcorpus"
)

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// query returns the rows of a query as column names and values.
func query(t *testing.T, db *sql.DB, q string, args ...any) ([]string, [][]any) {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	names, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names, out
}

func syntheticFlows() []*flow.Flow {
	var d flow.Dist
	d.Add(60)
	d.Add(1500)
	d.Add(52)
	mk := func(id uint64, src, sni string, label flow.Value, names []string) *flow.Flow {
		u := &flow.UDPS{}
		u.Set("count", flow.Int(int64(10*id)))
		u.Set("ratio", flow.Float(float64(id)/4))
		u.Set("label", label)
		u.Set("sizes", flow.List([]int64{int64(id), -1}))
		u.Set("names", flow.Strings(names))
		return &flow.Flow{
			ID: id, ExpirationID: -1,
			SrcIP: netip.MustParseAddr(src), DstIP: netip.MustParseAddr("::ffff:1.2.3.4"),
			SrcMAC: flow.MAC{0, 0x1b, 0x21, 0xa, 0xb, 0xc}, SrcPort: 51234, DstPort: 443, Protocol: 6, IPVersion: 4,
			BidirectionalFirstSeenMs: 1700000000000 + id, BidirectionalLastSeenMs: 1700000000250 + id,
			BidirectionalPackets: 3, BidirectionalBytes: 1612,
			Stats: &flow.Stats{Bidirectional: flow.DirStats{PS: d}},
			SPLT:  &flow.SPLT{Direction: []int8{0, 1, 0, -1}, PS: []int32{60, 1500, 52, -1}, PIATMs: []int64{0, 100, 150, -1}},
			DPI: &dpi.FlowState{Info: dpi.Info{
				ApplicationName: "TLS.Google", RequestedServerName: sni, ApplicationConfidence: 6,
				UserAgent: "Mozilla/5.0\n(X11)", ContentType: `text/html; charset="utf-8"`,
			}},
			UDPS: u,
		}
	}
	return []*flow.Flow{
		mk(0, "10.0.0.1", `say "hi", ok`, flow.String(`a "b"`), nil),
		mk(1, "2001:db8::1", "café.example ☕", flow.None(), []string{"x.local"}),
		mk(2, "10.0.0.2", "", flow.Int(5), []string{"x.local", "it's"}),
	}
}

var schema = export.Schema{DecodeTunnels: true, Statistical: true, SPLT: true, DPI: true}

func writeParquet(t *testing.T, path string, flows []*flow.Flow, opts export.Options) {
	t.Helper()
	opts.Format = export.FormatParquet
	w, err := export.Create(path, schema.Columns(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSyntheticFlows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.parquet")
	writeParquet(t, path, syntheticFlows(), export.Options{RowGroupRows: 2})
	db := openDB(t)

	// Column names, order and types.
	_, desc := query(t, db, "DESCRIBE SELECT * FROM read_parquet(?)", path)
	wantNames := append(export.Names(schema.Columns()), "udps.count", "udps.ratio", "udps.label", "udps.sizes", "udps.names")
	if len(desc) != len(wantNames) {
		t.Fatalf("%d columns, want %d", len(desc), len(wantNames))
	}
	types := map[string]string{}
	for i, d := range desc {
		if d[0] != wantNames[i] {
			t.Errorf("column %d is %v, want %s", i, d[0], wantNames[i])
		}
		types[d[0].(string)] = d[1].(string)
	}
	for _, c := range schema.Columns() {
		want := map[export.Kind]string{export.Int: "BIGINT", export.Float: "DOUBLE", export.String: "VARCHAR", export.List: "BIGINT[]"}[c.Kind]
		if types[c.Name] != want {
			t.Errorf("type of %s = %s, want %s", c.Name, types[c.Name], want)
		}
	}
	for name, want := range map[string]string{
		"udps.count": "BIGINT", "udps.ratio": "DOUBLE", "udps.label": "VARCHAR", "udps.sizes": "BIGINT[]", "udps.names": "VARCHAR[]",
	} {
		if types[name] != want {
			t.Errorf("type of %s = %s, want %s", name, types[name], want)
		}
	}

	// Values.
	_, rows := query(t, db, `SELECT id, expiration_id, src_ip, dst_ip, src_mac, src_oui, dst_port, bidirectional_first_seen_ms,
		bidirectional_mean_ps, bidirectional_stddev_ps, splt_direction, splt_ps, splt_piat_ms, requested_server_name, user_agent,
		content_type, application_confidence, "udps.count", "udps.ratio", "udps.label", "udps.sizes", "udps.names"
		FROM read_parquet(?) ORDER BY id`, path)
	l := func(xs ...int64) []any {
		out := make([]any, len(xs))
		for i, x := range xs {
			out[i] = x
		}
		return out
	}
	want := [][]any{
		{int64(0), int64(-1), "10.0.0.1", "::ffff:1.2.3.4", "00:1b:21:0a:0b:0c", "00:1b:21", int64(443), int64(1700000000000),
			537.3333333333334, 833.7033845039454, l(0, 1, 0, -1), l(60, 1500, 52, -1), l(0, 100, 150, -1), `say "hi", ok`, "Mozilla/5.0\n(X11)",
			`text/html; charset="utf-8"`, int64(6), int64(0), 0.0, `a "b"`, l(0, -1), []any{}},
		{int64(1), int64(-1), "2001:db8::1", "::ffff:1.2.3.4", "00:1b:21:0a:0b:0c", "00:1b:21", int64(443), int64(1700000000001),
			537.3333333333334, 833.7033845039454, l(0, 1, 0, -1), l(60, 1500, 52, -1), l(0, 100, 150, -1), "café.example ☕", "Mozilla/5.0\n(X11)",
			`text/html; charset="utf-8"`, int64(6), int64(10), 0.25, nil, l(1, -1), []any{"x.local"}},
		{int64(2), int64(-1), "10.0.0.2", "::ffff:1.2.3.4", "00:1b:21:0a:0b:0c", "00:1b:21", int64(443), int64(1700000000002),
			537.3333333333334, 833.7033845039454, l(0, 1, 0, -1), l(60, 1500, 52, -1), l(0, 100, 150, -1), "", "Mozilla/5.0\n(X11)",
			`text/html; charset="utf-8"`, int64(6), int64(20), 0.5, "5", l(2, -1), []any{"x.local", "it's"}},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		for j := range want[i] {
			if !reflect.DeepEqual(rows[i][j], want[i][j]) {
				t.Errorf("row %d column %d = %#v, want %#v", i, j, rows[i][j], want[i][j])
			}
		}
	}

	// Streaming: two flows per row group give two row groups.
	_, groups := query(t, db, "SELECT count(DISTINCT row_group_id) FROM parquet_metadata(?)", path)
	if groups[0][0] != int64(2) {
		t.Errorf("%v row groups, want 2", groups[0][0])
	}
	// Physical types as written in the file.
	_, phys := query(t, db, "SELECT name, type, repetition_type FROM parquet_schema(?) WHERE name IN ('id', 'src_ip', 'bidirectional_mean_ps', 'element', 'udps.count')", path)
	got := map[string]string{}
	for _, p := range phys {
		got[p[0].(string)] += fmt.Sprintf("%v/%v ", p[1], p[2])
	}
	for name, w := range map[string]string{
		"id": "INT64/REQUIRED ", "src_ip": "BYTE_ARRAY/REQUIRED ", "bidirectional_mean_ps": "DOUBLE/REQUIRED ", "udps.count": "INT64/OPTIONAL ",
	} {
		if got[name] != w {
			t.Errorf("parquet_schema %s: %s, want %s", name, got[name], w)
		}
	}
}

func TestNoFlows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.parquet")
	writeParquet(t, path, nil, export.Options{})
	db := openDB(t)
	names, rows := query(t, db, "SELECT * FROM read_parquet(?)", path)
	if len(rows) != 0 || !reflect.DeepEqual(names, export.Names(schema.Columns())) {
		t.Errorf("empty file: %d rows, columns %v", len(rows), names)
	}
}

// Every value of every flow of a real capture, read back by DuckDB from
// Parquet, equals the value in our CSV (the format checked against
// NFStream's results elsewhere).
func TestCaptureMatchesCSV(t *testing.T) {
	for _, name := range []string{"steam.pcap", "google_ssl.pcap", "dhcp.pcap"} {
		t.Run(name, func(t *testing.T) { captureMatchesCSV(t, name, false) })
		// Through Background, as the command writes files: rows built
		// on several goroutines in batches of 5, row groups of 7.
		t.Run(name+"/background", func(t *testing.T) { captureMatchesCSV(t, name, true) })
	}
}

func captureMatchesCSV(t *testing.T, name string, background bool) {
	o := nfstream.DefaultOptions()
	o.StatisticalAnalysis = true
	o.SPLTAnalysis = 5
	s, err := nfstream.New([]string{testcorpus.Pcap(t, name)}, o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pq, err := export.Create(filepath.Join(dir, "f.parquet"), s.Columns(), export.Options{RowGroupRows: 7})
	if err != nil {
		t.Fatal(err)
	}
	if background {
		pq = export.Background(pq, 5)
	}
	cw, err := export.Create(filepath.Join(dir, "f.csv"), s.Columns(), export.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for f, err := range s.Flows(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if err := pq.Write(f); err != nil {
			t.Fatal(err)
		}
		if err := cw.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := pq.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	cf, _ := os.Open(filepath.Join(dir, "f.csv"))
	defer cf.Close()
	want, err := csv.NewReader(cf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	names, rows := query(t, openDB(t), "SELECT * FROM read_parquet(?)", filepath.Join(dir, "f.parquet"))
	if !reflect.DeepEqual(names, want[0]) {
		t.Fatalf("columns %v, want %v", names, want[0])
	}
	if len(rows) != len(want)-1 || uint64(len(rows)) != s.Counters().Flows {
		t.Fatalf("%d rows, CSV has %d, %d flows", len(rows), len(want)-1, s.Counters().Flows)
	}
	for i, row := range rows {
		for j, v := range row {
			if got := pyStr(v); got != want[i+1][j] {
				t.Errorf("flow %d %s: Parquet %q, CSV %q", i, names[j], got, want[i+1][j])
			}
		}
	}
}

// pyStr renders a DuckDB value as our CSV does.
func pyStr(v any) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return string(export.AppendPyFloat(nil, v))
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = pyStr(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case nil:
		return ""
	}
	return fmt.Sprintf("%T(%v)", v, v)
}
