package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const demo = "../../testdata/demo.pcap"

func runCmd(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errb bytes.Buffer
	status = run(args, &out, &errb)
	return out.String(), errb.String(), status
}

func TestDemoCSV(t *testing.T) {
	out, errs, status := runCmd(t, "--n-dissections", "0", demo)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := "id,expiration_id,src_ip,src_mac,src_oui,src_port,dst_ip,dst_mac,dst_oui,dst_port,protocol,ip_version,vlan_id,tunnel_id," +
		"bidirectional_first_seen_ms,bidirectional_last_seen_ms,bidirectional_duration_ms,bidirectional_packets,bidirectional_bytes," +
		"src2dst_first_seen_ms,src2dst_last_seen_ms,src2dst_duration_ms,src2dst_packets,src2dst_bytes," +
		"dst2src_first_seen_ms,dst2src_last_seen_ms,dst2src_duration_ms,dst2src_packets,dst2src_bytes"
	if got := strings.Join(rows[0], ","); got != wantHeader {
		t.Errorf("header:\n got %s\nwant %s", got, wantHeader)
	}
	// DNS (idle-expired by the second lookup), HTTP, ICMP, NTP over IPv6,
	// then the second DNS lookup; the scan at the second lookup emits the
	// first four in creation order.
	want := [][]string{
		{"0", "0", "192.168.1.10", "02:00:00:00:00:01", "02:00:00", "53001", "192.168.1.1", "02:00:00:00:00:fe", "02:00:00", "53", "17", "4", "0", "0", "1700000000000", "1700000000012", "12", "2", "158"},
		{"1", "0", "192.168.1.10", "02:00:00:00:00:01", "02:00:00", "40000", "93.184.216.34", "02:00:00:00:00:fe", "02:00:00", "80", "6", "4", "0", "0", "1700000000015", "1700000000096", "81", "10", "764"},
		{"2", "0", "192.168.1.10", "02:00:00:00:00:01", "02:00:00", "0", "93.184.216.34", "02:00:00:00:00:fe", "02:00:00", "0", "1", "4", "0", "0", "1700000001096", "1700000003173", "2077", "6", "588"},
		{"3", "0", "2001:db8::10", "02:00:00:00:00:01", "02:00:00", "123", "2001:db8:1::123", "02:00:00:00:00:fe", "02:00:00", "123", "17", "6", "0", "0", "1700000003673", "1700000003713", "40", "2", "220"},
		{"4", "0", "192.168.1.10", "02:00:00:00:00:01", "02:00:00", "53001", "192.168.1.1", "02:00:00:00:00:fe", "02:00:00", "53", "17", "4", "0", "0", "1700000183713", "1700000183724", "11", "2", "158"},
	}
	if len(rows)-1 != len(want) {
		t.Fatalf("%d flows, want %d:\n%s", len(rows)-1, len(want), out)
	}
	for i, w := range want {
		if got := rows[i+1][:len(w)]; strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("flow %d:\n got %v\nwant %v", i, got, w)
		}
	}
	if !strings.Contains(errs, "22 packets read, 22 metered, 0 ignored") {
		t.Errorf("summary: %q", errs)
	}
}

func TestDemoDPI(t *testing.T) {
	out, errs, status := runCmd(t, demo)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(errs, "application columns are left out") {
		t.Skip("built without nDPI")
	}
	h := rows[0]
	col := func(name string) int {
		for i, c := range h {
			if c == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	app, host, ua, ct := col("application_name"), col("requested_server_name"), col("user_agent"), col("content_type")
	if r := rows[2]; r[app] != "HTTP" || r[host] != "example.org" || r[ua] != "nfstream-demo/1.0" || r[ct] != "text/html" {
		t.Errorf("HTTP flow: %s %s %s %s", r[app], r[host], r[ua], r[ct])
	}
	if r := rows[1]; r[app] != "DNS" || r[host] != "example.org" {
		t.Errorf("DNS flow: %s %s", r[app], r[host])
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--accounting-mode", "5", demo}, "accounting_mode: 5"},
		{[]string{"--n-dissections", "256", demo}, "n_dissections: 256"},
		{[]string{"--idle-timeout", "-1", demo}, "idle_timeout"},
		{[]string{"--idle-timeout", "soon", demo}, "idle-timeout"},
		{[]string{"--splt-analysis", "70000", demo}, "splt_analysis: 70000"},
		{[]string{"--bpf-filter", "my filter", demo}, "bpf_filter"},
		{[]string{"--max-nflows", "-1", "--n-meters", "-1", demo}, "n_meters: -1"},
		{[]string{"--system-visibility-mode", "2", demo}, "system_visibility_mode: 2"},
		{[]string{"--system-visibility-poll-ms", "-5", demo}, "system_visibility_poll_ms: -5"},
		{[]string{}, "no SOURCE"},
	} {
		_, errs, status := runCmd(t, c.args...)
		if status != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: status %d, stderr %q; want 2 and %q", c.args, status, errs, c.want)
		}
	}
}

// TestSystemVisibilityOffline: on files, --system-visibility-mode 1 is
// switched off with NFStream's warning; the flows come out without the
// system_process columns.
func TestSystemVisibilityOffline(t *testing.T) {
	out, errs, status := runCmd(t, "--system-visibility-mode", "1", demo)
	if status != 0 || !strings.Contains(errs, "system_visibility_mode switched to 0 in offline capture") {
		t.Fatalf("status %d, stderr %q", status, errs)
	}
	header, _, _ := strings.Cut(out, "\n")
	if strings.Contains(header, "system_process") || strings.Count(out, "\n") != 6 {
		t.Errorf("header %q, %d lines; want 5 flows without system_process columns", header, strings.Count(out, "\n"))
	}
}

func TestSourceErrors(t *testing.T) {
	dir := t.TempDir()
	notCap := filepath.Join(dir, "notes.txt")
	os.WriteFile(notCap, []byte("this is not a capture file at all"), 0o644)
	for _, src := range []string{filepath.Join(dir, "missing.pcap"), notCap} {
		_, errs, status := runCmd(t, "--n-dissections", "0", src)
		if status != 1 || !strings.Contains(errs, src) {
			t.Errorf("%s: status %d, stderr %q", src, status, errs)
		}
	}
	// A truncated last record is a warning: status 0, every complete packet read.
	data, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, data[:len(data)-10], 0o644)
	out, errs, status := runCmd(t, "--n-dissections", "0", cut)
	if status != 0 || !strings.Contains(errs, "packet 22") || !strings.Contains(errs, "21 packets read") {
		t.Errorf("truncated: status %d, stderr %q", status, errs)
	}
	if n := strings.Count(out, "\n"); n != 6 {
		t.Errorf("truncated: %d lines, want header + 5 flows", n)
	}
}

func TestInterleavedFlags(t *testing.T) {
	dir := t.TempDir()
	outFile := filepath.Join(dir, "flows.csv")
	_, errs, status := runCmd(t, demo, "--n-dissections", "0", "-o", outFile, "--max-nflows", "2")
	if status != 0 {
		t.Fatalf("status %d: %s", status, errs)
	}
	data, _ := os.ReadFile(outFile)
	if n := strings.Count(string(data), "\n"); n != 3 {
		t.Errorf("%d lines, want header + 2 flows", n)
	}
}

func TestPluginFlags(t *testing.T) {
	out, errs, status := runCmd(t, "--n-dissections", "0", "--plugin", "flowslicer:limit=4", "--plugin", "splt:sequence_length=3", demo)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	h := strings.Join(rows[0], ",")
	if !strings.HasSuffix(h, ",udps.splt_direction,udps.splt_ps,udps.splt_piat_ms") {
		t.Errorf("header ends %q", h[len(h)-80:])
	}
	// The 10-packet HTTP flow is cut into 4 + 4 + 2 packets (expiration_id -1
	// for the first two), the 6-packet ping into 4 + 2.
	var cut int
	for _, r := range rows[1:] {
		if r[1] == "-1" {
			cut++
		}
	}
	if len(rows)-1 != 8 || cut != 3 {
		t.Errorf("%d flows, %d cut by flowslicer; want 8 and 3:\n%s", len(rows)-1, cut, out)
	}
	if _, errs, status := runCmd(t, "--plugin", "nosuch", demo); status != 2 || !strings.Contains(errs, "nosuch") {
		t.Errorf("unknown plugin: status %d, %q", status, errs)
	}
	if out, _, status := runCmd(t, "--list-plugins"); status != 0 || !strings.Contains(out, "ja4") {
		t.Errorf("--list-plugins: status %d, %q", status, out)
	}
}

// TestProfiles: --cpuprofile, --memprofile and --trace write their files;
// one that cannot be created stops the run with status 2 naming its flag,
// after stopping (and writing) those already started.
func TestProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem, tr := filepath.Join(dir, "cpu"), filepath.Join(dir, "mem"), filepath.Join(dir, "trace")
	if _, errs, status := runCmd(t, "-q", "--cpuprofile", cpu, "--memprofile", mem, "--trace", tr, "-o", filepath.Join(dir, "out.csv"), demo); status != 0 {
		t.Fatalf("status %d, stderr %q", status, errs)
	}
	for _, p := range []string{cpu, mem, tr} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v, %v", p, st, err)
		}
	}
	cpu2 := filepath.Join(dir, "cpu2")
	_, errs, status := runCmd(t, "-q", "--cpuprofile", cpu2, "--trace", filepath.Join(dir, "no", "trace"), demo)
	if status != 2 || !strings.Contains(errs, "--trace:") {
		t.Errorf("bad --trace path: status %d, stderr %q", status, errs)
	}
	if st, err := os.Stat(cpu2); err != nil || st.Size() == 0 {
		t.Errorf("the CPU profile started before the failure was not written: %v, %v", st, err)
	}
}
