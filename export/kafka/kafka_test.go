package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
	"github.com/nfstream-go/nfstream/internal/flowtest"
)

// jsonlLines returns the JSON Lines export of the flows, one line each.
func jsonlLines(t testing.TB, flows []*flow.Flow, cols []export.Column) []string {
	var buf bytes.Buffer
	w, err := export.New(&buf, cols, export.Options{Format: export.FormatJSONL})
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
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

func TestRenderMatchesJSONL(t *testing.T) {
	for _, name := range []string{"steam.pcap", "facebook.pcap", "http_ipv6.pcap"} {
		flows, cols := flowtest.Capture(t, name)
		want := jsonlLines(t, flows, cols)
		r := export.NewJSONObject(export.WithUDPS(cols, flows[0]))
		for i, f := range flows {
			if got := string(r.Append(nil, f)); got != want[i] {
				t.Errorf("%s flow %d:\n got %s\nwant %s", name, i, got, want[i])
			}
		}
	}
}

func TestKeySymmetric(t *testing.T) {
	flows, _ := flowtest.Capture(t, "facebook.pcap")
	f := *flows[0]
	r := f
	r.SrcIP, r.DstIP, r.SrcPort, r.DstPort = f.DstIP, f.SrcIP, f.DstPort, f.SrcPort
	a, b := string(AppendKey(nil, &f)), string(AppendKey(nil, &r))
	if a != b || a != "6|66.220.156.68|443|192.168.43.18|52066|0|0" {
		t.Errorf("keys %q and %q", a, b)
	}
}

// consume reads n records of topic (or until timeout) and returns them.
func consume(t *testing.T, brokers []string, topic string, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// check compares the consumed records with the JSON Lines export: every
// flow once (by id), keys as AppendKey, per-key order of ids kept within
// each partition. It returns the number of duplicates.
func check(t *testing.T, recs []*kgo.Record, flows []*flow.Flow, lines []string) (dups int) {
	t.Helper()
	seen := map[uint64]int{}
	lastByKey := map[string]int64{}
	for _, r := range recs {
		var obj struct {
			ID uint64 `json:"id"`
		}
		if err := json.Unmarshal(r.Value, &obj); err != nil {
			t.Fatalf("record %q: %v", r.Value, err)
		}
		if obj.ID >= uint64(len(flows)) {
			t.Fatalf("record of flow %d", obj.ID)
		}
		seen[obj.ID]++
		if seen[obj.ID] > 1 {
			dups++
			continue
		}
		if string(r.Value) != lines[obj.ID] {
			t.Errorf("flow %d:\n got %s\nwant %s", obj.ID, r.Value, lines[obj.ID])
		}
		if k := string(AppendKey(nil, flows[obj.ID])); string(r.Key) != k {
			t.Errorf("flow %d: key %q, want %q", obj.ID, r.Key, k)
		}
		pk := fmt.Sprintf("%d/%s", r.Partition, r.Key)
		if last, ok := lastByKey[pk]; ok && int64(obj.ID) < last {
			t.Errorf("flow %d after flow %d of the same key in partition %d", obj.ID, last, r.Partition)
		}
		lastByKey[pk] = int64(obj.ID)
	}
	missing := 0
	for i := range flows {
		if seen[uint64(i)] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d flows missing from the topic", missing, len(flows))
	}
	return dups
}

// manyFlows repeats the flows of a capture k times with new ids, for
// longer runs.
func manyFlows(t testing.TB, name string, k int) ([]*flow.Flow, []export.Column) {
	flows, cols := flowtest.Capture(t, name)
	var out []*flow.Flow
	for range k {
		for _, f := range flows {
			c := *f
			c.ID = uint64(len(out))
			out = append(out, &c)
		}
	}
	return out, cols
}

func produceAll(t *testing.T, w *Writer, flows []*flow.Flow, between func(i int)) {
	t.Helper()
	for i, f := range flows {
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
		if between != nil {
			between(i)
		}
	}
}

func TestKfakeRoundTrip(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(4, "flows", "flows-zstd"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, comp := range []string{"none", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			topic := "flows"
			if comp != "none" {
				topic = "flows-" + comp
			}
			flows, cols := manyFlows(t, "facebook.pcap", 1)
			more, _ := flowtest.Capture(t, "steam.pcap")
			for _, f := range more {
				c := *f
				c.ID = uint64(len(flows))
				flows = append(flows, &c)
			}
			lines := jsonlLines(t, flows, cols)
			w, err := New(Config{Brokers: c.ListenAddrs(), Topic: topic, Compression: comp}, cols)
			if err != nil {
				t.Fatal(err)
			}
			produceAll(t, w, flows, nil)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := w.Counters(); got != (Counters{Written: uint64(len(flows)), Produced: uint64(len(flows))}) {
				t.Errorf("counters %+v", got)
			}
			recs := consume(t, c.ListenAddrs(), topic, len(flows), 10*time.Second)
			if dups := check(t, recs, flows, lines); dups != 0 {
				t.Errorf("%d duplicates", dups)
			}
		})
	}
}

// cutListener lets a test close every connection the broker accepted.
type cutListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *cutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *cutListener) cut() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.conns)
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
	return n
}

// TestConnectionCuts closes all the producer's broker connections many
// times while it produces, at whatever point each request is: no flow is
// lost, and the idempotent producer writes none twice.
func TestConnectionCuts(t *testing.T) {
	var (
		mu  sync.Mutex
		lns []*cutListener
	)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "flows"),
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			ln, err := net.Listen(network, addr)
			if err != nil {
				return nil, err
			}
			cl := &cutListener{Listener: ln}
			mu.Lock()
			lns = append(lns, cl)
			mu.Unlock()
			return cl, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	flows, cols := manyFlows(t, "steam.pcap", 200) // 11000 flows
	lines := jsonlLines(t, flows, cols)
	w, err := New(Config{Brokers: c.ListenAddrs(), Topic: "flows", Linger: time.Millisecond}, cols)
	if err != nil {
		t.Fatal(err)
	}
	cuts := 0
	produceAll(t, w, flows, func(i int) {
		if i%500 == 250 {
			mu.Lock()
			for _, l := range lns {
				cuts += l.cut()
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs := consume(t, c.ListenAddrs(), "flows", len(flows), 20*time.Second)
	dups := check(t, recs, flows, lines)
	t.Logf("%d flows, %d connections cut, %d records consumed, %d duplicates; counters %+v",
		len(flows), cuts, len(recs), dups, w.Counters())
	if dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
}

// TestBrokerRestart stops the broker mid-run and starts it again on the
// same port and data directory (its state survives) while the producer
// keeps writing into its buffer: no flow is lost.
func TestBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "flows"), kfake.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	addrs := c.ListenAddrs()
	_, port, _ := net.SplitHostPort(addrs[0])
	var p int
	fmt.Sscan(port, &p)
	flows, cols := manyFlows(t, "steam.pcap", 100)
	lines := jsonlLines(t, flows, cols)
	w, err := New(Config{Brokers: addrs, Topic: "flows"}, cols)
	if err != nil {
		t.Fatal(err)
	}
	produceAll(t, w, flows, func(i int) {
		switch i {
		case len(flows) / 3:
			time.Sleep(50 * time.Millisecond)
			c.Close()
		case 2 * len(flows) / 3:
			time.Sleep(500 * time.Millisecond) // the broker is away
			c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(p), kfake.DataDir(dir))
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	recs := consume(t, c.ListenAddrs(), "flows", len(flows), 20*time.Second)
	dups := check(t, recs, flows, lines)
	t.Logf("%d flows, %d records consumed after the restart, %d duplicates; counters %+v", len(flows), len(recs), dups, w.Counters())
}

// TestDropWhenFull: with no broker, a bounded buffer and DropWhenFull,
// Write never blocks and Close reports the drops.
func TestDropWhenFull(t *testing.T) {
	flows, cols := manyFlows(t, "steam.pcap", 4)
	w, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Topic: "flows", MaxBufferedRecords: 50,
		DropWhenFull: true, CloseTimeout: 200 * time.Millisecond}, cols)
	if err != nil {
		t.Fatal(err)
	}
	produceAll(t, w, flows, nil)
	err = w.Close()
	c := w.Counters()
	if c.Written != 220 || c.Dropped == 0 || c.Dropped+c.Failed != 220 || c.Produced != 0 {
		t.Errorf("counters %+v", c)
	}
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("220 of 220 flows (%d dropped with the buffer full, %d failed)", c.Dropped, c.Failed)) {
		t.Errorf("Close: %v", err)
	}
}

// TestRealBroker runs the round trip against KAFKA_BROKERS when set.
func TestRealBroker(t *testing.T) {
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		t.Skip("KAFKA_BROKERS not set")
	}
	topic := fmt.Sprintf("nfstream-test-%d", time.Now().UnixNano())
	flows, cols := flowtest.Capture(t, "steam.pcap")
	lines := jsonlLines(t, flows, cols)
	bl := strings.Split(brokers, ",")
	adm, err := kgo.NewClient(kgo.SeedBrokers(bl...))
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 3, -1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(context.Background(), adm)
	adm.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	w, err := New(Config{Brokers: bl, Topic: topic}, cols)
	if err != nil {
		t.Fatal(err)
	}
	produceAll(t, w, flows, nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs := consume(t, bl, topic, len(flows), 30*time.Second)
	if dups := check(t, recs, flows, lines); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
}

func TestValidate(t *testing.T) {
	c := Config{Compression: "brotli", SASLMechanism: "GSSAPI"}
	err := c.Validate()
	for _, want := range []string{"no broker", "no topic", `compression "brotli"`, `SASL mechanism "GSSAPI"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}
