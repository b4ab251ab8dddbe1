// Package kafka streams flows to a Kafka topic with franz-go: one record
// per flow whose value is the flow's JSON object (the line the JSON Lines
// export writes, without the newline) and whose key is the flow's
// direction-independent 5-tuple with VLAN and tunnel (AppendKey), so that
// Kafka's key partitioning keeps each flow's records in one partition, in
// order.
//
// Delivery: the producer is idempotent (acks from all in-sync replicas,
// producer id and sequence numbers), so the retries after a lost
// connection or a broker restart write each record once. Records wait in a
// bounded buffer (Config.MaxBufferedRecords) while the broker is away;
// when it is full, Write blocks (the default, right for reading files:
// nothing is lost) or, with Config.DropWhenFull (live capture), the
// record is dropped and counted. Close waits up to Config.CloseTimeout for
// the buffer to drain and reports what was produced, dropped and failed.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
)

// Defaults of Config's zero fields.
const (
	DefaultLinger             = 10 * time.Millisecond
	DefaultMaxBufferedRecords = 100_000
	DefaultCloseTimeout       = 30 * time.Second
	DefaultClientID           = "nfstream"
)

// Config configures a Writer. Zero fields take the defaults.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Topic receives the records.
	Topic string
	// ClientID names the producer to the brokers (default "nfstream").
	ClientID string
	// Linger is how long a batch waits for more records (default 10ms).
	Linger time.Duration
	// Compression of the batches: none, gzip, snappy, lz4 or zstd
	// (default "": none).
	Compression string
	// MaxBufferedRecords bounds the records waiting for the broker
	// (default 100000).
	MaxBufferedRecords int
	// DropWhenFull drops (and counts) a record when the buffer is full,
	// instead of blocking Write until there is room.
	DropWhenFull bool
	// DeliveryTimeout gives up on a record not acknowledged after this
	// long (counted as failed); 0 retries until Close.
	DeliveryTimeout time.Duration
	// CloseTimeout bounds how long Close waits for the buffer to drain
	// (default 30s); what is left then is counted as failed.
	CloseTimeout time.Duration
	// TLS, when not nil, connects with TLS.
	TLS *tls.Config
	// SASLMechanism is "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, with
	// SASLUser and SASLPassword.
	SASLMechanism          string
	SASLUser, SASLPassword string
}

// ErrConfig is wrapped by every error Config.Validate returns.
var ErrConfig = errors.New("invalid Kafka option")

// ErrUndelivered is wrapped by Close's error when records were dropped or
// failed.
var ErrUndelivered = errors.New("flows not delivered to Kafka")

var codecs = map[string]kgo.CompressionCodec{
	"": kgo.NoCompression(), "none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
}

// Validate returns every problem of the configuration, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if len(c.Brokers) == 0 {
		bad("no broker")
	}
	if c.Topic == "" {
		bad("no topic")
	}
	if _, ok := codecs[strings.ToLower(c.Compression)]; !ok {
		bad("compression %q: want none, gzip, snappy, lz4 or zstd", c.Compression)
	}
	if c.Linger < 0 || c.DeliveryTimeout < 0 || c.CloseTimeout < 0 || c.MaxBufferedRecords < 0 {
		bad("negative linger, timeout or buffer size")
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "":
		if c.SASLUser != "" {
			bad("a SASL user without a mechanism")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASLUser == "" {
			bad("SASL %s needs a user", c.SASLMechanism)
		}
	default:
		bad("SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASLMechanism)
	}
	return errors.Join(errs...)
}

// Counters count the records of a Writer. Produced, Dropped and Failed are
// final after Close.
type Counters struct {
	Written  uint64 // flows given to Write
	Produced uint64 // records acknowledged by the broker
	Dropped  uint64 // records dropped because the buffer was full (DropWhenFull)
	Failed   uint64 // records the producer gave up on (delivery timeout, Close)
}

// Writer is an export.Writer that produces one Kafka record per flow. Write
// and Close are called by one goroutine; Counters may be called from any.
type Writer struct {
	cfg   Config
	cl    *kgo.Client
	base  []export.Column
	rend  *export.JSONObject // nil until the first flow fixes the columns
	ctx   context.Context
	abort context.CancelFunc

	written, produced, dropped, failed atomic.Uint64
	mu                                 sync.Mutex
	firstErr                           error // guarded by mu
	promise                            func(*kgo.Record, error)
	retries                            retryTable
}

// New returns a Writer of the columns cols (export.Schema.Columns; the
// first flow's udps columns are added as in the file exports). It does not
// wait for the brokers: records are buffered until they answer.
func New(cfg Config, cols []export.Column) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.MaxBufferedRecords == 0 {
		cfg.MaxBufferedRecords = DefaultMaxBufferedRecords
	}
	if cfg.CloseTimeout == 0 {
		cfg.CloseTimeout = DefaultCloseTimeout
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // with idempotence, which franz-go enables by default
		kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchCompression(codecs[strings.ToLower(cfg.Compression)]),
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
	}
	if cfg.DeliveryTimeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout))
	}
	if cfg.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg.TLS))
	}
	if m := mechanism(cfg); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	w := &Writer{cfg: cfg, cl: cl, base: cols}
	w.ctx, w.abort = context.WithCancel(context.Background())
	w.promise = func(r *kgo.Record, err error) {
		switch {
		case err == nil:
			w.produced.Add(1)
			if w.retries.Len() > 0 {
				w.retries.Delete(r)
			}
		case errors.Is(err, kgo.ErrMaxBuffered):
			w.dropped.Add(1)
		case w.retry(r, err):
			// handed back to the producer: a connection cut while the
			// producer ID was being set up fails the whole buffer at once.
		default:
			w.failed.Add(1)
			w.mu.Lock()
			if w.firstErr == nil {
				w.firstErr = err
			}
			w.mu.Unlock()
		}
	}
	return w, nil
}

func mechanism(cfg Config) sasl.Mechanism {
	switch strings.ToUpper(cfg.SASLMechanism) {
	case "PLAIN":
		return plain.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: cfg.SASLUser, Pass: cfg.SASLPassword}.AsSha512Mechanism()
	}
	return nil
}

// Write renders the flow and hands the record to the producer. It blocks
// while the buffer is full unless DropWhenFull. Delivery errors do not
// fail Write: they are counted and reported by Close.
func (w *Writer) Write(f *flow.Flow) error {
	if w.rend == nil {
		w.rend = export.NewJSONObject(export.WithUDPS(w.base, f))
	}
	// The record owns its key and value until the promise runs.
	r := &kgo.Record{Key: AppendKey(nil, f), Value: w.rend.Append(make([]byte, 0, 1024), f)}
	w.written.Add(1)
	if w.cfg.DropWhenFull {
		w.cl.TryProduce(w.ctx, r, w.promise)
	} else {
		w.cl.Produce(w.ctx, r, w.promise)
	}
	return nil
}

// Counters returns the counts so far.
func (w *Writer) Counters() Counters {
	return Counters{Written: w.written.Load(), Produced: w.produced.Load(), Dropped: w.dropped.Load(), Failed: w.failed.Load()}
}

// Close waits up to CloseTimeout for every record to be acknowledged, then
// closes the client. Its error wraps ErrUndelivered when records were
// dropped or failed, with the counts.
func (w *Writer) Close() error {
	if w.cl == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.CloseTimeout)
	err := w.cl.Flush(ctx)
	cancel()
	w.abort() // records still buffered fail now
	w.cl.Close()
	w.cl = nil
	// Promises of records that were being handed back (retry) can still
	// run: wait until every written record is accounted for.
	for deadline := time.Now().Add(w.cfg.CloseTimeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if c := w.Counters(); c.Produced+c.Dropped+c.Failed >= c.Written {
			break
		}
	}
	c := w.Counters()
	if lost := c.Written - c.Produced; lost > 0 {
		msg := fmt.Errorf("%w: %d of %d flows (%d dropped with the buffer full, %d failed)",
			ErrUndelivered, lost, c.Written, c.Dropped, c.Failed)
		if err != nil {
			msg = fmt.Errorf("%w; flushing: %w", msg, err)
		}
		w.mu.Lock()
		if w.firstErr != nil {
			msg = fmt.Errorf("%w; first error: %w", msg, w.firstErr)
		}
		w.mu.Unlock()
		return msg
	}
	return nil
}

// maxRetries is how many times a record that failed for another reason than
// a full buffer is handed back to the producer before it counts as failed.
const maxRetries = 10

// retryTable counts the attempts of records that failed at least once.
type retryTable struct {
	mu sync.Mutex
	n  map[*kgo.Record]int
}

func (t *retryTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.n)
}

func (t *retryTable) Delete(r *kgo.Record) {
	t.mu.Lock()
	delete(t.n, r)
	t.mu.Unlock()
}

// next counts one more attempt of r and reports whether it may be retried.
func (t *retryTable) next(r *kgo.Record) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = make(map[*kgo.Record]int)
	}
	t.n[r]++
	if t.n[r] > maxRetries {
		delete(t.n, r)
		return false
	}
	return true
}

// retry hands a failed record back to the producer unless the writer is
// closing or the record has used its attempts. It runs in a promise, so it
// never blocks: a full buffer makes the retry fail, counted as dropped.
func (w *Writer) retry(r *kgo.Record, err error) bool {
	if w.ctx.Err() != nil || errors.Is(err, context.Canceled) || !w.retries.next(r) {
		return false
	}
	w.cl.TryProduce(w.ctx, r, w.promise)
	return true
}
