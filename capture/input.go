package capture

import (
	"io"
)

const (
	// bufferSize is the size of the read buffer of one Source. Reads from the
	// underlying file are made in chunks of up to this size.
	bufferSize = 1 << 20
	// maxZeroReads bounds how many times in a row a reader may return no
	// bytes and no error before we give up with io.ErrNoProgress.
	maxZeroReads = 100
)

// input is a forward-only buffered reader over an io.Reader that never seeks,
// so it works on pipes and standard input. Unread bytes are buf[r:w]. Bytes
// already consumed stay where they are until the next fill, which is what
// lets records alias the buffer until the following call to Next.
type input struct {
	src  io.Reader
	buf  []byte
	r, w int
	base int64 // file offset of buf[0]
	err  error // first error returned by src (io.EOF at the end)
	// limit is the largest size buf may grow to; it grows only as far as
	// the data actually read needs (see fill).
	limit int
	// pre, when not nil, reads the file ahead (prefetch.go); buf is then
	// cur's buffer, or a stitched block when cur is nil.
	pre *prefetcher
	cur *chunk
}

func newInput(src io.Reader, limit int) input {
	return input{src: src, buf: make([]byte, bufferSize), limit: max(limit, bufferSize)}
}

// offset is the file offset of the next unread byte.
func (in *input) offset() int64 { return in.base + int64(in.r) }

// fill makes at least n unread bytes available in buf[r:w], reading more if
// needed, and returns how many are available: fewer than n only at the end
// of the input or after a read error (kept in in.err). n must not exceed
// in.limit. Filling may move the unread bytes, so slices of buf taken before
// the call are invalid after it.
func (in *input) fill(n int) int {
	if in.w-in.r >= n {
		return in.w - in.r
	}
	return in.fillSlow(n)
}

func (in *input) fillSlow(n int) int {
	if in.err != nil {
		return in.w - in.r
	}
	if in.pre != nil {
		return in.fillPrefetched(n)
	}
	// Move the unread tail (always shorter than n) to the front so that
	// reads are as large as possible.
	if in.r > 0 {
		copy(in.buf, in.buf[in.r:in.w])
		in.base += int64(in.r)
		in.w -= in.r
		in.r = 0
	}
	zero := 0
	for in.w < n {
		if in.w == len(in.buf) {
			// Grow by doubling, and only when the buffer is full
			// of data that is really there: a damaged length field
			// in a short file cannot make us allocate much.
			size := min(2*len(in.buf), in.limit)
			if size <= len(in.buf) {
				break
			}
			bigger := make([]byte, size)
			copy(bigger, in.buf[:in.w])
			in.buf = bigger
		}
		m, err := in.src.Read(in.buf[in.w:])
		if m < 0 || m > len(in.buf)-in.w {
			in.err = io.ErrShortBuffer // broken reader
			break
		}
		in.w += m
		if err != nil {
			in.err = err
			break
		}
		if m == 0 {
			if zero++; zero >= maxZeroReads {
				in.err = io.ErrNoProgress
				break
			}
		} else {
			zero = 0
		}
	}
	return in.w
}

// readErr is the error that stopped the last fill: nil at a clean end of
// input, otherwise the reader's error.
func (in *input) readErr() error {
	if in.err == io.EOF {
		return nil
	}
	return in.err
}
