package nfstream_test

import (
	"slices"
	"testing"

	"github.com/nfstream-go/nfstream"
	"github.com/nfstream-go/nfstream/dpi/ndpi"
)

// TestFingerprintExtraction is NFStream's test_fingerprint_extraction.
func TestFingerprintExtraction(t *testing.T) {
	if !ndpi.Available {
		t.Skip("built without nDPI")
	}
	o := nfstream.DefaultOptions()
	o.StatisticalAnalysis = true
	o.AccountingMode = 1
	flows, _ := collect(t, o, "facebook.pcap")
	if len(flows) != 2 {
		t.Fatalf("%d flows, want 2", len(flows))
	}
	for _, f := range flows {
		i := f.DPI.Info
		if i.ApplicationName != "TLS.Facebook" || i.ApplicationCategoryName != "SocialNetwork" || i.ApplicationIsGuessed != 0 ||
			i.ApplicationConfidence != 6 ||
			!slices.Contains([]string{"facebook.com", "www.facebook.com"}, i.RequestedServerName) ||
			!slices.Contains([]string{"bfcc1a3891601edb4f137ab7ab25b840", "5c60e71f1b8cd40e4d40ed5b6d666e3f"}, i.ClientFingerprint) ||
			!slices.Contains([]string{"2d1eb5817ece335c24904f516ad5da12", "96681175a9547081bf3d417f1a572091"}, i.ServerFingerprint) {
			t.Errorf("flow %d: %+v", f.ID, i)
		}
	}
}

// TestMultiFilesDPI is the application half of NFStream's test_multi_files
// (appendix A.2): one flow over four files, labelled as from one file.
func TestMultiFilesDPI(t *testing.T) {
	if !ndpi.Available {
		t.Skip("built without nDPI")
	}
	flows, _ := collect(t, nfstream.DefaultOptions(), "one_flow_1_5.pcap", "one_flow_6_10.pcap", "one_flow_11_15.pcap", "one_flow_16_19.pcap")
	if len(flows) != 1 {
		t.Fatalf("%d flows, want 1", len(flows))
	}
	i := flows[0].DPI.Info
	want := []any{"TLS.Facebook", "SocialNetwork", uint8(0), uint8(6), "facebook.com",
		"bfcc1a3891601edb4f137ab7ab25b840", "2d1eb5817ece335c24904f516ad5da12", "", ""}
	got := []any{i.ApplicationName, i.ApplicationCategoryName, i.ApplicationIsGuessed, i.ApplicationConfidence, i.RequestedServerName,
		i.ClientFingerprint, i.ServerFingerprint, i.UserAgent, i.ContentType}
	if !slices.Equal(got, want) {
		t.Errorf("multi-file application columns:\n got %v\nwant %v", got, want)
	}
}
