package capture

import (
	"errors"
	"fmt"
	"io"
)

// OpenError reports a file of a list (see OpenFiles) that could not be
// opened or whose header is not that of a capture. Unlike a *FormatError,
// which only ends the damaged file, it ends the whole list: NFStream aborts
// the run when a later file of a list cannot be opened.
type OpenError struct {
	File int    // index of the file in the list
	Path string // file name as given
	Err  error  // what Open returned: an *os.PathError, a *FormatError, ...
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("capture file %d of the list: %v", e.File+1, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// OpenFiles reads the capture files in paths one after the other as one
// stream: Record.File is the index of the file in paths and each record
// carries its own file's link type. The first file is opened at once (its
// error, wrapped in an *OpenError, is returned here); each later file is
// opened only when the previous one has ended, so at most one file is open.
//
// Errors from Next are:
//   - io.EOF after the last record of the last file;
//   - a *FormatError for a damaged record: that file ends there, and the
//     next call goes on with the next file;
//   - an *OpenError when a later file cannot be opened, after every record of
//     the earlier files: the list ends there and later calls return io.EOF.
//
// Check for *OpenError before *FormatError: the former may wrap the latter
// (a file that is not a capture).
//
// The Source must be used by one goroutine at a time. Record.Data is valid
// until the next call to Next or Close.
func OpenFiles(paths []string) (Source, error) {
	if len(paths) == 0 {
		return nil, errors.New("capture: no files to read")
	}
	m := &multiSource{paths: append([]string(nil), paths...)}
	if err := m.open(); err != nil {
		return nil, err
	}
	return m, nil
}

// multiSource chains the files of a list.
type multiSource struct {
	paths []string
	next  int     // index of the next file to open
	cur   *reader // nil between files
	done  bool
	past  int64 // bytes of the files already read to their end
}

// BytesRead is how many bytes of the files have been consumed so far, for
// progress reports. Like Next, it is called by the reading goroutine.
func (m *multiSource) BytesRead() int64 {
	if m.cur == nil {
		return m.past
	}
	return m.past + m.cur.in.offset()
}

func (m *multiSource) open() error {
	i := m.next
	m.next++
	s, err := Open(m.paths[i])
	if err != nil {
		m.done = true
		return &OpenError{File: i, Path: m.paths[i], Err: err}
	}
	r := s.(*reader)
	r.file = i
	m.cur = r
	return nil
}

// Next implements Source.
func (m *multiSource) Next(rec *Record) error {
	for !m.done {
		if m.cur == nil {
			if m.next == len(m.paths) {
				m.done = true
				break
			}
			if err := m.open(); err != nil {
				return err
			}
		}
		err := m.cur.Next(rec)
		if err != io.EOF {
			// A record, or a *FormatError after which the reader
			// returns io.EOF and we move on to the next file.
			return err
		}
		// The file was only read: an error closing it loses nothing.
		m.past += m.cur.in.offset()
		_ = m.cur.Close()
		m.cur = nil
	}
	return io.EOF
}

// Close implements Source: it closes the file being read, if any.
func (m *multiSource) Close() error {
	m.done = true
	if m.cur == nil {
		return nil
	}
	err := m.cur.Close()
	m.cur = nil
	return err
}
