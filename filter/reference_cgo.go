//go:build cgo

package filter

/*
#include <pcap/pcap.h>
*/
import "C"

import "unsafe"

// libpcapFilter runs a program with libpcap's own bpf_filter. It exists for
// the tests, which check that the Go interpreter agrees with libpcap (test
// files cannot use cgo); nothing else calls it.
func libpcapFilter(prog []Instruction, data []byte, wireLen uint32) uint32 {
	var dummy [1]byte
	p := unsafe.Pointer(&dummy[0])
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	// Instruction has the layout of struct bpf_insn (checked in the tests).
	insns := (*C.struct_bpf_insn)(unsafe.Pointer(&prog[0]))
	return uint32(C.bpf_filter(insns, (*C.u_char)(p), C.u_int(wireLen), C.u_int(len(data))))
}

// sizeofInsn is sizeof(struct bpf_insn), for the tests.
const sizeofInsn = C.sizeof_struct_bpf_insn
