package export_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/nfstream-go/nfstream/export"
	"github.com/nfstream-go/nfstream/flow"
)

// Write flows as JSON Lines to standard output, keeping three columns and
// anonymising the source address with a fixed key.
func ExampleNew() {
	cols := export.Schema{}.Columns() // the columns a streamer gives: s.Columns()
	w, err := export.New(os.Stdout, cols, export.Options{
		Format:    export.FormatJSONL,
		Columns:   []string{"src_ip", "dst_port", "bidirectional_packets"},
		Anonymize: []string{"src_ip"},
		Key:       []byte("my secret key"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	f := &flow.Flow{SrcIP: netip.MustParseAddr("10.0.0.1"), DstPort: 443, BidirectionalPackets: 12}
	if err := w.Write(f); err != nil {
		fmt.Println(err)
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {"src_ip":"19c53b0eb1525dd90107c5b755702bd787b632fd120645a494ca7597b1ca6a2be70af28239ccdad398832b925af6e1528ad9f8a28edf37a624894ec322caa67e","dst_port":443,"bidirectional_packets":12}
}

// Validate reports every problem of the options at once.
func ExampleOptions_Validate() {
	opts := export.Options{Columns: []string{"id", "src_addr"}, FlowsPerFile: -1}
	err := opts.Validate(export.Schema{}.Columns())
	fmt.Println(errors.Is(err, export.ErrOptions))
	// Output: true
}
