package filter

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Classic-BPF opcodes: the instruction class in the low 3 bits, then size
// and addressing mode (loads), operation (ALU, jumps) and operand source.
const (
	classLD   = 0x00
	classLDX  = 0x01
	classST   = 0x02
	classSTX  = 0x03
	classALU  = 0x04
	classJMP  = 0x05
	classRET  = 0x06
	classMISC = 0x07

	sizeW = 0x00
	sizeH = 0x08
	sizeB = 0x10

	modeIMM = 0x00
	modeABS = 0x20
	modeIND = 0x40
	modeMEM = 0x60
	modeLEN = 0x80
	modeMSH = 0xa0

	srcK = 0x00
	srcX = 0x08
	srcA = 0x10 // RET only

	aluADD = 0x00
	aluSUB = 0x10
	aluMUL = 0x20
	aluDIV = 0x30
	aluOR  = 0x40
	aluAND = 0x50
	aluLSH = 0x60
	aluRSH = 0x70
	aluNEG = 0x80
	aluMOD = 0x90
	aluXOR = 0xa0

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJGT  = 0x20
	jmpJGE  = 0x30
	jmpJSET = 0x40

	miscTAX = 0x00
	miscTXA = 0x80
)

// The opcodes libpcap's bpf_filter executes; no other is accepted.
const (
	opRetK   = classRET | srcK
	opRetA   = classRET | srcA
	opLdWAbs = classLD | sizeW | modeABS
	opLdHAbs = classLD | sizeH | modeABS
	opLdBAbs = classLD | sizeB | modeABS
	opLdLen  = classLD | sizeW | modeLEN
	opLdxLen = classLDX | sizeW | modeLEN
	opLdWInd = classLD | sizeW | modeIND
	opLdHInd = classLD | sizeH | modeIND
	opLdBInd = classLD | sizeB | modeIND
	opLdxMsh = classLDX | sizeB | modeMSH
	opLdImm  = classLD | modeIMM
	opLdxImm = classLDX | modeIMM
	opLdMem  = classLD | modeMEM
	opLdxMem = classLDX | modeMEM
	opSt     = classST
	opStx    = classSTX
	opJA     = classJMP | jmpJA
	opJeqK   = classJMP | jmpJEQ | srcK
	opJgtK   = classJMP | jmpJGT | srcK
	opJgeK   = classJMP | jmpJGE | srcK
	opJsetK  = classJMP | jmpJSET | srcK
	opJeqX   = classJMP | jmpJEQ | srcX
	opJgtX   = classJMP | jmpJGT | srcX
	opJgeX   = classJMP | jmpJGE | srcX
	opJsetX  = classJMP | jmpJSET | srcX
	opAddK   = classALU | aluADD | srcK
	opSubK   = classALU | aluSUB | srcK
	opMulK   = classALU | aluMUL | srcK
	opDivK   = classALU | aluDIV | srcK
	opModK   = classALU | aluMOD | srcK
	opAndK   = classALU | aluAND | srcK
	opOrK    = classALU | aluOR | srcK
	opXorK   = classALU | aluXOR | srcK
	opLshK   = classALU | aluLSH | srcK
	opRshK   = classALU | aluRSH | srcK
	opAddX   = classALU | aluADD | srcX
	opSubX   = classALU | aluSUB | srcX
	opMulX   = classALU | aluMUL | srcX
	opDivX   = classALU | aluDIV | srcX
	opModX   = classALU | aluMOD | srcX
	opAndX   = classALU | aluAND | srcX
	opOrX    = classALU | aluOR | srcX
	opXorX   = classALU | aluXOR | srcX
	opLshX   = classALU | aluLSH | srcX
	opRshX   = classALU | aluRSH | srcX
	opNeg    = classALU | aluNEG
	opTax    = classMISC | miscTAX
	opTxa    = classMISC | miscTXA
)

// Dense operation numbers, so that the interpreter's switch is a jump table.
const (
	invalid uint8 = iota
	doRetK
	doRetA
	doLdWAbs
	doLdHAbs
	doLdBAbs
	doLdLen
	doLdxLen
	doLdWInd
	doLdHInd
	doLdBInd
	doLdxMsh
	doLdImm
	doLdxImm
	doLdMem
	doLdxMem
	doSt
	doStx
	doJA
	doJeqK
	doJgtK
	doJgeK
	doJsetK
	doJeqX
	doJgtX
	doJgeX
	doJsetX
	doAddK
	doSubK
	doMulK
	doDivK
	doModK
	doAndK
	doOrK
	doXorK
	doLshK
	doRshK
	doAddX
	doSubX
	doMulX
	doDivX
	doModX
	doAndX
	doOrX
	doXorX
	doLshX
	doRshX
	doNeg
	doTax
	doTxa
)

// insn is an instruction as the interpreter runs it.
type insn struct {
	op     uint8
	jt, jf uint8
	k      uint32
}

// decode maps opcodes to dense operation numbers (invalid if unknown).
func decode(code uint16) uint8 {
	switch code {
	case opRetK:
		return doRetK
	case opRetA:
		return doRetA
	case opLdWAbs:
		return doLdWAbs
	case opLdHAbs:
		return doLdHAbs
	case opLdBAbs:
		return doLdBAbs
	case opLdLen:
		return doLdLen
	case opLdxLen:
		return doLdxLen
	case opLdWInd:
		return doLdWInd
	case opLdHInd:
		return doLdHInd
	case opLdBInd:
		return doLdBInd
	case opLdxMsh:
		return doLdxMsh
	case opLdImm:
		return doLdImm
	case opLdxImm:
		return doLdxImm
	case opLdMem:
		return doLdMem
	case opLdxMem:
		return doLdxMem
	case opSt:
		return doSt
	case opStx:
		return doStx
	case opJA:
		return doJA
	case opJeqK:
		return doJeqK
	case opJgtK:
		return doJgtK
	case opJgeK:
		return doJgeK
	case opJsetK:
		return doJsetK
	case opJeqX:
		return doJeqX
	case opJgtX:
		return doJgtX
	case opJgeX:
		return doJgeX
	case opJsetX:
		return doJsetX
	case opAddK:
		return doAddK
	case opSubK:
		return doSubK
	case opMulK:
		return doMulK
	case opDivK:
		return doDivK
	case opModK:
		return doModK
	case opAndK:
		return doAndK
	case opOrK:
		return doOrK
	case opXorK:
		return doXorK
	case opLshK:
		return doLshK
	case opRshK:
		return doRshK
	case opAddX:
		return doAddX
	case opSubX:
		return doSubX
	case opMulX:
		return doMulX
	case opDivX:
		return doDivX
	case opModX:
		return doModX
	case opAndX:
		return doAndX
	case opOrX:
		return doOrX
	case opXorX:
		return doXorX
	case opLshX:
		return doLshX
	case opRshX:
		return doRshX
	case opNeg:
		return doNeg
	case opTax:
		return doTax
	case opTxa:
		return doTxa
	}
	return invalid
}

const (
	memWords = 16 // scratch memory M[0..15]
	// maxInstructions bounds a program, as libpcap's interpreter does.
	maxInstructions = 3_060_000
	// maxBackwardJumps bounds the backward jumps run on one packet. libpcap
	// compiles "protochain" into a loop that moves forward through the
	// packet by at least 8 bytes per turn, so it never needs more than
	// 262144/8 turns; this bound only stops hand-written endless loops.
	maxBackwardJumps = 1 << 16
)

var errEmpty = errors.New("empty program")

// validate applies the checks of libpcap's bpf_validate.
func validate(prog []Instruction) error {
	n := len(prog)
	if n == 0 {
		return errEmpty
	}
	if n > maxInstructions {
		return fmt.Errorf("program of %d instructions, more than %d", n, maxInstructions)
	}
	for pc, in := range prog {
		switch decode(in.Code) {
		case invalid:
			return fmt.Errorf("instruction %d: unknown opcode %#04x", pc, in.Code)
		case doLdMem, doLdxMem, doSt, doStx:
			if in.K >= memWords {
				return fmt.Errorf("instruction %d: scratch memory M[%d] does not exist", pc, in.K)
			}
		case doDivK, doModK:
			if in.K == 0 {
				return fmt.Errorf("instruction %d: division by zero", pc)
			}
		case doLshK, doRshK:
			if in.K >= 32 {
				return fmt.Errorf("instruction %d: shift by %d bits", pc, in.K)
			}
		case doJA:
			to := int64(pc) + 1 + int64(int32(in.K))
			if to < 0 || to >= int64(n) || to == int64(pc) {
				return fmt.Errorf("instruction %d: jump to %d out of the program", pc, to)
			}
		case doJeqK, doJgtK, doJgeK, doJsetK, doJeqX, doJgtX, doJgeX, doJsetX:
			if pc+1+int(in.Jt) >= n || pc+1+int(in.Jf) >= n {
				return fmt.Errorf("instruction %d: jump out of the program", pc)
			}
		}
	}
	if prog[n-1].Code&0x07 != classRET {
		return errors.New("the last instruction is not a return")
	}
	return nil
}

// run executes a validated program on a packet, as libpcap's bpf_filter
// does, and returns the program's result (0: reject).
func run(prog []insn, p []byte, wireLen uint32) uint32 {
	var a, x uint32
	var mem [memWords]uint32
	buflen := uint64(len(p))
	backward := 0
	for pc := 0; pc < len(prog); pc++ {
		in := &prog[pc]
		switch in.op {
		case doRetK:
			return in.k
		case doRetA:
			return a

		case doLdWAbs:
			k := uint64(in.k)
			if k+4 > buflen {
				return 0
			}
			a = binary.BigEndian.Uint32(p[k:])
		case doLdHAbs:
			k := uint64(in.k)
			if k+2 > buflen {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(p[k:]))
		case doLdBAbs:
			k := uint64(in.k)
			if k >= buflen {
				return 0
			}
			a = uint32(p[k])
		case doLdWInd:
			k := uint64(x) + uint64(in.k)
			if k+4 > buflen {
				return 0
			}
			a = binary.BigEndian.Uint32(p[k:])
		case doLdHInd:
			k := uint64(x) + uint64(in.k)
			if k+2 > buflen {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(p[k:]))
		case doLdBInd:
			k := uint64(x) + uint64(in.k)
			if k >= buflen {
				return 0
			}
			a = uint32(p[k])
		case doLdxMsh:
			k := uint64(in.k)
			if k >= buflen {
				return 0
			}
			x = uint32(p[k]&0x0f) << 2
		case doLdLen:
			a = wireLen
		case doLdxLen:
			x = wireLen
		case doLdImm:
			a = in.k
		case doLdxImm:
			x = in.k
		case doLdMem:
			a = mem[in.k&(memWords-1)]
		case doLdxMem:
			x = mem[in.k&(memWords-1)]
		case doSt:
			mem[in.k&(memWords-1)] = a
		case doStx:
			mem[in.k&(memWords-1)] = x

		case doJA:
			if int32(in.k) < 0 {
				if backward++; backward > maxBackwardJumps {
					return 0
				}
			}
			pc += int(int32(in.k))
		case doJeqK:
			pc += int(pick(a == in.k, in))
		case doJgtK:
			pc += int(pick(a > in.k, in))
		case doJgeK:
			pc += int(pick(a >= in.k, in))
		case doJsetK:
			pc += int(pick(a&in.k != 0, in))
		case doJeqX:
			pc += int(pick(a == x, in))
		case doJgtX:
			pc += int(pick(a > x, in))
		case doJgeX:
			pc += int(pick(a >= x, in))
		case doJsetX:
			pc += int(pick(a&x != 0, in))

		case doAddK:
			a += in.k
		case doSubK:
			a -= in.k
		case doMulK:
			a *= in.k
		case doDivK:
			if in.k == 0 {
				return 0
			}
			a /= in.k
		case doModK:
			if in.k == 0 {
				return 0
			}
			a %= in.k
		case doAndK:
			a &= in.k
		case doOrK:
			a |= in.k
		case doXorK:
			a ^= in.k
		case doLshK:
			a <<= in.k // Go gives 0 for shifts of 32 bits or more
		case doRshK:
			a >>= in.k
		case doAddX:
			a += x
		case doSubX:
			a -= x
		case doMulX:
			a *= x
		case doDivX:
			if x == 0 {
				return 0
			}
			a /= x
		case doModX:
			if x == 0 {
				return 0
			}
			a %= x
		case doAndX:
			a &= x
		case doOrX:
			a |= x
		case doXorX:
			a ^= x
		case doLshX:
			a <<= x
		case doRshX:
			a >>= x
		case doNeg:
			a = -a
		case doTax:
			x = a
		case doTxa:
			a = x
		default:
			return 0 // not reached for validated programs
		}
	}
	return 0 // not reached for validated programs: the last instruction returns
}

func pick(cond bool, in *insn) uint8 {
	if cond {
		return in.jt
	}
	return in.jf
}
