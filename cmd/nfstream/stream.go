package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/export/ipfix"
	"github.com/nfstream-go/nfstream/export/kafka"
	"github.com/nfstream-go/nfstream/flow"
)

// streamUsage documents the flags of streamFlags, for the manual.
const streamUsage = `    --ipfix HOST:PORT
        Also send the flows as IPFIX biflows (RFC 7011, RFC 5103) to the
        collector at HOST:PORT; see docs/ipfix.md. With --ipfix or --kafka,
        flows go to a file or standard output only when -o is given
        (-o - for standard output).
    --ipfix-transport udp|tcp
        The IPFIX transport (default udp; templates are resent every 60 s
        and every 100 messages over UDP).
    --kafka BROKER,BROKER,...
        Also produce one JSON record per flow (the JSON Lines object) to the
        topic --kafka-topic, keyed by the flow's 5-tuple; see docs/kafka.md.
    --kafka-topic TOPIC
        The topic (required with --kafka).
    --kafka-compression none|gzip|snappy|lz4|zstd
        Batch compression (default none).
    --kafka-tls
        Connect to the brokers with TLS (system roots).
    --kafka-sasl-user USER, --kafka-sasl-password PASSWORD
        SASL credentials; the password may instead be in the environment
        variable NFSTREAM_KAFKA_PASSWORD.
    --kafka-sasl-mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512
        The SASL mechanism (default PLAIN when a user is given).
`

// kafkaPasswordEnv names the environment variable with the SASL password.
const kafkaPasswordEnv = "NFSTREAM_KAFKA_PASSWORD"

// streamFlags choose the network outputs.
type streamFlags struct {
	ipfix, ipfixTransport               string
	kafka, kafkaTopic, kafkaCompression string
	kafkaTLS                            bool
	kafkaUser, kafkaPassword, kafkaMech string
}

func (s *streamFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.ipfix, "ipfix", "", "")
	fs.StringVar(&s.ipfixTransport, "ipfix-transport", "udp", "")
	fs.StringVar(&s.kafka, "kafka", "", "")
	fs.StringVar(&s.kafkaTopic, "kafka-topic", "", "")
	fs.StringVar(&s.kafkaCompression, "kafka-compression", "none", "")
	fs.BoolVar(&s.kafkaTLS, "kafka-tls", false, "")
	fs.StringVar(&s.kafkaUser, "kafka-sasl-user", "", "")
	fs.StringVar(&s.kafkaPassword, "kafka-sasl-password", "", "")
	fs.StringVar(&s.kafkaMech, "kafka-sasl-mechanism", "", "")
}

// openOutputs opens the file output (unless a network output is given
// without -o) and the network outputs, and returns a sink that writes
// every flow to all of them. It returns main's exit status on failure.
func openOutputs(o *outputFlags, s *streamFlags, path string, sources []string, cols []export.Column,
	stdout, stderr io.Writer, quiet, live bool) (*sink, int) {
	var outs []named
	if s.ipfix != "" {
		w, err := ipfix.New(ipfix.Config{Addr: s.ipfix, Transport: s.ipfixTransport}, cols)
		if err != nil {
			return nil, failOpen(stderr, "--ipfix", err, ipfix.ErrConfig)
		}
		outs = append(outs, named{"IPFIX", w, func() string {
			c := w.Counters()
			return fmt.Sprintf("%d flows in %d messages to %s (%d dropped)", c.Records, c.Messages, s.ipfix, c.Dropped)
		}})
	}
	if s.kafka != "" || s.kafkaTopic != "" {
		cfg := kafka.Config{Brokers: splitList(s.kafka), Topic: s.kafkaTopic, Compression: s.kafkaCompression,
			DropWhenFull: live, SASLUser: s.kafkaUser, SASLPassword: s.kafkaPassword, SASLMechanism: s.kafkaMech}
		if cfg.SASLPassword == "" {
			cfg.SASLPassword = os.Getenv(kafkaPasswordEnv)
		}
		if cfg.SASLUser != "" && cfg.SASLMechanism == "" {
			cfg.SASLMechanism = "PLAIN"
		}
		if s.kafkaTLS {
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		w, err := kafka.New(cfg, cols)
		if err != nil {
			closeAll(outs)
			return nil, failOpen(stderr, "--kafka", err, kafka.ErrConfig)
		}
		outs = append(outs, named{"Kafka", w, func() string {
			c := w.Counters()
			return fmt.Sprintf("%d flows produced to %s, %d dropped (buffer full), %d failed", c.Produced, s.kafkaTopic, c.Dropped, c.Failed)
		}})
	}
	if len(outs) == 0 {
		return o.openOutput(path, sources, cols, stdout, stderr, quiet)
	}
	var sk *sink
	if path != "" {
		var code int
		if sk, code = o.openOutput(path, sources, cols, stdout, stderr, quiet); code != 0 {
			closeAll(outs)
			return nil, code
		}
		outs = append([]named{{"file", sk.w, nil}}, outs...)
	} else {
		sk = &sink{}
	}
	sk.w = &fanout{outs: outs, stderr: stderr, quiet: quiet}
	return sk, 0
}

func failOpen(stderr io.Writer, flagName string, err, usageErr error) int {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(stderr, "nfstream: %s: %s\n", flagName, line)
	}
	if errors.Is(err, usageErr) {
		return 2
	}
	return 1
}

type named struct {
	name   string
	w      export.Writer
	report func() string // a summary line after Close, or nil
}

func closeAll(outs []named) {
	for _, o := range outs {
		o.w.Close()
	}
}

// fanout writes each flow to every output in turn. A failing output stops
// the run (its error names it); Close closes them all and prints each
// network output's summary on stderr unless quiet.
type fanout struct {
	outs   []named
	stderr io.Writer
	quiet  bool
}

func (f *fanout) Write(fl *flow.Flow) error {
	for _, o := range f.outs {
		if err := o.w.Write(fl); err != nil {
			return fmt.Errorf("%s: %w", o.name, err)
		}
	}
	return nil
}

// Flush flushes the outputs that buffer.
func (f *fanout) Flush() error {
	var errs []error
	for _, o := range f.outs {
		if fl, ok := o.w.(export.Flusher); ok {
			if err := fl.Flush(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", o.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (f *fanout) Close() error {
	if f.outs == nil {
		return nil
	}
	var errs []error
	for _, o := range f.outs {
		if err := o.w.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.name, err))
		}
		if o.report != nil && !f.quiet {
			fmt.Fprintf(f.stderr, "nfstream: %s: %s\n", o.name, o.report())
		}
	}
	f.outs = nil
	return errors.Join(errs...)
}
