package export

import (
	"errors"
	"io"
	"math"
	"reflect"
	"strconv"

	"github.com/parquet-go/parquet-go"

	"github.com/nfstream-go/nfstream/flow"
)

// parquetKind is the physical layout of one column.
type parquetKind uint8

const (
	pqInt parquetKind = iota
	pqFloat
	pqString
	pqList
	pqStrings
)

type parquetCol struct {
	kind     parquetKind
	optional bool // a udps column: one definition level more
}

// parquetBatch is how many rows are handed to the library at once.
const parquetBatch = 64

// parquetWriter writes Parquet with native column types (the mapping is
// also in docs/exports.md):
//
//	Int                INT64, required               → pandas int64
//	Float              DOUBLE, required (NaN kept)   → float64
//	String             BYTE_ARRAY STRING, required   → object (str)
//	List               LIST<INT64>, required         → object (arrays)
//	udps int / float   INT64 / DOUBLE, optional      → int64 (float64 with nulls) / float64
//	udps str, None     BYTE_ARRAY STRING, optional   → object
//	udps list of ints  LIST<INT64>, optional
//	udps list of str   LIST<STRING>, optional
//
// A udps column is typed by its value in the first flow (None gives a string
// column). A later value of another kind is converted when that loses
// nothing (int into a float column, an integral float into an int column,
// anything into a string column as Python's str() writes it) and is null
// otherwise.
//
// Rows are buffered by row group (Options.RowGroupRows flows) and written
// compressed with Snappy, so memory depends on the row group length and the
// number of columns, not on the number of flows. Building rows from flows
// and encoding them (dictionaries, pages, compression) run on two
// goroutines: Write builds batches of parquetBatch rows and hands them to
// the encoding goroutine, in order, so the file is the same. Through
// Background, rows are built on its encoders instead (batchEncoder) and
// written by its writer goroutine (writeBatch), still in Write's chunks.
// Rows are built column by column (pqCols), the layout the library's
// column writers take, so they need no transposition.
type parquetWriter struct {
	w       *parquet.Writer
	cols    []Column
	pcols   []parquetCol
	maxRows int
	inGroup int // rows handed over in the current row group

	cur  *pqCols // the batch being built
	list []int64
	pos  []int // writeBatch: each column's next value in the job

	work chan *pqCols  // batches to encode
	free chan *pqCols  // encoded batches, for reuse
	done chan struct{} // closed when the encoding goroutine has returned
	err  firstError    // of the encoding goroutine
}

// pqCols is a batch of rows stored column by column: vals[c] holds column
// c's values, one per row, or for a list column each row's elements (the
// first at repetition level 0, or one null for an empty list). String
// values point into str (or into arrays str outgrew, which they keep
// alive), so the bytes must stay unchanged until the rows are written.
type pqCols struct {
	vals     [][]parquet.Value
	str      []byte
	rows     int
	endGroup bool // the row group ends with this batch
}

func newPQCols(columns int) *pqCols { return &pqCols{vals: make([][]parquet.Value, columns)} }

func (b *pqCols) reset() {
	for c := range b.vals {
		b.vals[c] = b.vals[c][:0]
	}
	b.str = b.str[:0]
	b.rows, b.endGroup = 0, false
}

// pqBatches is how many batches exist: one being built, two in flight.
const pqBatches = 3

func newParquet(w io.Writer, lay *layout, rowGroupRows int) *parquetWriter {
	if rowGroupRows <= 0 {
		rowGroupRows = DefaultRowGroupRows
	}
	p := &parquetWriter{
		cols:    lay.cols,
		pcols:   make([]parquetCol, len(lay.cols)),
		maxRows: rowGroupRows,
		pos:     make([]int, len(lay.cols)),
		work:    make(chan *pqCols, pqBatches),
		free:    make(chan *pqCols, pqBatches),
		done:    make(chan struct{}),
	}
	for range pqBatches {
		p.free <- newPQCols(len(lay.cols))
	}
	p.cur = <-p.free
	fields := make([]parquet.Field, len(lay.cols))
	for i, c := range lay.cols {
		var node parquet.Node
		pc := parquetCol{}
		switch c.Kind {
		case Int:
			pc.kind = pqInt
		case Float:
			pc.kind = pqFloat
		case String:
			pc.kind = pqString
		case List:
			pc.kind = pqList
		case UDPS:
			pc.optional = true
			switch lay.udps[i] {
			case flow.KindInt:
				pc.kind = pqInt
			case flow.KindFloat:
				pc.kind = pqFloat
			case flow.KindList:
				pc.kind = pqList
			case flow.KindStrings:
				pc.kind = pqStrings
			default:
				pc.kind = pqString
			}
		}
		switch pc.kind {
		case pqInt:
			node = parquet.Leaf(parquet.Int64Type)
		case pqFloat:
			node = parquet.Leaf(parquet.DoubleType)
		case pqString:
			node = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
		case pqList:
			node = parquet.List(parquet.Leaf(parquet.Int64Type))
		case pqStrings:
			node = parquet.List(parquet.String())
		}
		if pc.optional {
			node = parquet.Optional(node)
		}
		p.pcols[i] = pc
		fields[i] = &orderedField{Node: node, name: c.Name}
	}
	schema := parquet.NewSchema("nfstream", orderedGroup{fields: fields})
	p.w = parquet.NewWriter(w, schema,
		parquet.Compression(&parquet.Snappy),
		parquet.PageBufferSize(64<<10),
	)
	go p.encode()
	return p
}

// encode is the encoding goroutine: it writes the batches in order, and
// after an error only hands them back.
func (p *parquetWriter) encode() {
	defer close(p.done)
	for b := range p.work {
		if p.err.get() == nil {
			err := p.writeValues(b, nil, b.rows)
			if err == nil && b.endGroup {
				err = p.w.Flush()
			}
			if err != nil {
				p.err.set(err)
			}
		}
		b.reset()
		p.free <- b
	}
}

// writeValues writes n rows of b to the current row group, column by
// column: with pos nil all of b, else the rows starting at value pos[c] of
// each column c, and pos is moved past them. One call is one chunk: a
// column's page ends when a chunk makes it full, so the chunks decide the
// file's bytes.
func (p *parquetWriter) writeValues(b *pqCols, pos []int, n int) error {
	cw := p.w.ColumnWriters()
	for c, vals := range b.vals {
		if pos != nil {
			vals = p.takeRows(c, vals, pos, n)
		}
		if _, err := cw[c].WriteRowValues(vals); err != nil {
			return err
		}
	}
	return nil
}

// takeRows returns the values of the n rows of column c that start at
// vals[pos[c]], and moves pos[c] past them. A row of a list column has a
// value per element (skipRows), of any other column exactly one.
func (p *parquetWriter) takeRows(c int, vals []parquet.Value, pos []int, n int) []parquet.Value {
	end := pos[c] + n
	if k := p.pcols[c].kind; k == pqList || k == pqStrings {
		end = skipRows(vals, pos[c], n)
	}
	start := pos[c]
	pos[c] = end
	return vals[start:end]
}

// skipRows returns the index of the value that starts the n-th row after
// the one starting at vals[i] (len(vals) past the last row): a row starts
// with a value at repetition level 0.
func skipRows(vals []parquet.Value, i, n int) int {
	for ; i < len(vals); i++ {
		if vals[i].RepetitionLevel() == 0 {
			if n == 0 {
				return i
			}
			n--
		}
	}
	return len(vals)
}

func (p *parquetWriter) Write(f *flow.Flow) error {
	b := p.cur
	p.appendFlow(b, &p.list, f)
	if b.rows == parquetBatch || p.inGroup+b.rows >= p.maxRows {
		return p.handOver()
	}
	return nil
}

// handOver gives the current batch to the encoding goroutine (ending the
// row group when it is full) and takes a free one.
func (p *parquetWriter) handOver() error {
	b := p.cur
	if p.work == nil {
		b.reset()
		return errors.New("export: parquet write after Close")
	}
	if err := p.err.get(); err != nil {
		b.reset()
		return err
	}
	if b.rows == 0 {
		return nil
	}
	p.inGroup += b.rows
	if p.inGroup >= p.maxRows {
		b.endGroup = true
		p.inGroup = 0
	}
	p.work <- b
	p.cur = <-p.free
	return nil
}

// settle waits until every batch handed over has been encoded: the
// writer's memory is then that of the rows it holds, whatever the pace of
// the encoding goroutine (TestParquetMemoryFlat measures it there). All
// batches but the current one are then free.
func (p *parquetWriter) settle() {
	var taken [pqBatches - 1]*pqCols
	for i := range taken {
		taken[i] = <-p.free
	}
	for _, b := range taken {
		p.free <- b
	}
}

// Close writes the rows left and the footer; it does not close the
// underlying writer.
func (p *parquetWriter) Close() error {
	if p.work == nil {
		return p.err.get()
	}
	err := p.handOver()
	close(p.work)
	<-p.done
	p.work = nil
	if err != nil {
		return err
	}
	if err := p.err.get(); err != nil {
		return err
	}
	return p.w.Close()
}

// batchEncoder returns a function that builds the rows of a job's flows
// into the job, for one goroutine; several may run at once (Background).
// writeBatch then encodes them, in order.
func (p *parquetWriter) batchEncoder() batchEncoder {
	var list []int64
	return func(j *encJob) {
		if j.cols == nil {
			j.cols = newPQCols(len(p.cols))
		}
		j.cols.reset()
		for _, f := range j.flows {
			p.appendFlow(j.cols, &list, f)
		}
	}
}

// writeBatch encodes the rows built by a batchEncoder function, after the
// rows Write built, in the chunks Write hands over (parquetBatch rows, cut
// at the end of a row group), so the file is byte for byte the one Write
// makes. The chunk Write had begun is completed with the job's first rows;
// a chunk left incomplete at the end of the job is rebuilt from its flows
// in the batch Write fills (the job's memory is reused once this returns):
// with jobs a multiple of parquetBatch long, that is one row per job.
func (p *parquetWriter) writeBatch(j *encJob) error {
	if p.work == nil {
		return errors.New("export: parquet write after Close")
	}
	p.settle() // the encoding goroutine is idle from here on
	if err := p.err.get(); err != nil {
		return err
	}
	b, pos := j.cols, p.pos
	clear(pos)
	for r := 0; r < b.rows; {
		cur := p.cur
		chunk := min(parquetBatch, p.maxRows-p.inGroup)
		need := chunk - cur.rows // rows of the job in the chunk
		var err error
		switch {
		case b.rows-r < need:
			for _, f := range j.flows[r:] {
				p.appendFlow(cur, &p.list, f)
			}
			return nil
		case cur.rows == 0:
			err = p.writeValues(b, pos, need)
		default:
			for c, vals := range b.vals {
				cur.vals[c] = append(cur.vals[c], p.takeRows(c, vals, pos, need)...)
			}
			cur.rows += need
			err = p.writeValues(cur, nil, cur.rows)
			cur.reset()
		}
		if p.inGroup += chunk; err == nil && p.inGroup == p.maxRows {
			err = p.w.Flush()
			p.inGroup = 0
		}
		if err != nil {
			p.err.set(err)
			return err
		}
		r += need
	}
	return nil
}

// appendFlow appends f's values to b, column by column; list is scratch
// space for list columns.
func (p *parquetWriter) appendFlow(b *pqCols, list *[]int64, f *flow.Flow) {
	str := b.str
	for i := range p.cols {
		c := &p.cols[i]
		// Values of the required columns have levels 0: only the column
		// index is set (SetColumnIndex inlines; Value.Level does not, and
		// cost a fifth of the time per flow).
		var v parquet.Value
		switch c.Kind {
		case Int:
			v = parquet.Int64Value(c.Int(f))
		case Float:
			v = parquet.DoubleValue(c.Float(f))
		case String:
			start := len(str)
			str = c.String(str, f)
			v = parquet.ByteArrayValue(str[start:len(str):len(str)])
		case List:
			*list = c.List((*list)[:0], f)
			b.vals[i] = appendInt64List(b.vals[i], *list, 0, i)
			continue
		case UDPS:
			b.vals[i], str = appendUDPS(b.vals[i], str, p.pcols[i].kind, c.UDPS(f), i)
			continue
		}
		v.SetColumnIndex(i)
		b.vals[i] = append(b.vals[i], v)
	}
	b.str = str
	b.rows++
}

// appendInt64List appends a list whose enclosing levels are defined up to
// def: an empty list is one null at def, elements are at def+1.
func appendInt64List(vals []parquet.Value, list []int64, def, col int) []parquet.Value {
	if len(list) == 0 {
		return append(vals, parquet.NullValue().Level(0, def, col))
	}
	for k, x := range list {
		v := parquet.Int64Value(x)
		if k > 0 {
			v.SetRepetitionLevel(1)
		}
		v.SetDefinitionLevel(def + 1)
		v.SetColumnIndex(col)
		vals = append(vals, v)
	}
	return vals
}

// appendUDPS appends a udps value to an optional column of the given kind
// (see the conversion rules above).
func appendUDPS(vals []parquet.Value, str []byte, kind parquetKind, v flow.Value, col int) ([]parquet.Value, []byte) {
	null := parquet.NullValue().Level(0, 0, col)
	if v.Kind == flow.KindNone {
		return append(vals, null), str
	}
	switch kind {
	case pqInt:
		switch {
		case v.Kind == flow.KindInt:
			return append(vals, parquet.Int64Value(v.Int).Level(0, 1, col)), str
		case v.Kind == flow.KindFloat && v.Float == math.Trunc(v.Float) && math.Abs(v.Float) < 1<<63:
			return append(vals, parquet.Int64Value(int64(v.Float)).Level(0, 1, col)), str
		}
	case pqFloat:
		switch v.Kind {
		case flow.KindFloat:
			return append(vals, parquet.DoubleValue(v.Float).Level(0, 1, col)), str
		case flow.KindInt:
			return append(vals, parquet.DoubleValue(float64(v.Int)).Level(0, 1, col)), str
		}
	case pqString:
		start := len(str)
		str = AppendPyValue(str, v)
		return append(vals, parquet.ByteArrayValue(str[start:len(str):len(str)]).Level(0, 1, col)), str
	case pqList:
		if v.Kind == flow.KindList {
			return appendInt64List(vals, v.List, 1, col), str
		}
	case pqStrings:
		if v.Kind == flow.KindStrings {
			if len(v.Strings) == 0 {
				return append(vals, parquet.NullValue().Level(0, 1, col)), str
			}
			for k, s := range v.Strings {
				rep := 1
				if k == 0 {
					rep = 0
				}
				start := len(str)
				str = append(str, s...)
				vals = append(vals, parquet.ByteArrayValue(str[start:len(str):len(str)]).Level(rep, 2, col))
			}
			return vals, str
		}
	}
	return append(vals, null), str
}

// orderedGroup is a parquet group whose fields keep the order given
// (parquet.Group sorts them by name, and NFStream's column order matters).
type orderedGroup struct {
	parquet.Group // for the methods other than Fields; empty
	fields        []parquet.Field
}

func (g orderedGroup) Fields() []parquet.Field { return g.fields }

func (g orderedGroup) String() string {
	s := "message {"
	for _, f := range g.fields {
		s += " " + strconv.Quote(f.Name()) + ";"
	}
	return s + " }"
}

// GoType is only used to read or write Go values by reflection, which this
// package does not do.
func (g orderedGroup) GoType() reflect.Type { return reflect.TypeFor[map[string]any]() }

type orderedField struct {
	parquet.Node
	name string
}

func (f *orderedField) Name() string { return f.name }

func (f *orderedField) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return reflect.Value{}
}
