package capture

// DLT values used by the reader.
const dltEthernet = 1

// dltFromLinkType maps a LINKTYPE_ value found in a file to the DLT_ value
// libpcap reports for it on Linux. Only five values differ (checked against
// libpcap 1.10.3 for every link type from 0 to 1099):
//
//	LINKTYPE_ATM_RFC1483 100 → DLT_ATM_RFC1483 11
//	LINKTYPE_RAW         101 → DLT_RAW 12
//	LINKTYPE_SLIP_BSDOS  102 → DLT_SLIP_BSDOS 15
//	LINKTYPE_PPP_BSDOS   103 → DLT_PPP_BSDOS 16
//	LINKTYPE_ATM_CLIP    106 → DLT_ATM_CLIP 19
func dltFromLinkType(linkType uint32) uint32 {
	switch linkType {
	case 100:
		return 11
	case 101:
		return 12
	case 102:
		return 15
	case 103:
		return 16
	case 106:
		return 19
	}
	return linkType
}
