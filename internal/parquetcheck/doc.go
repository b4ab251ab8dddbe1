// Package parquetcheck reads the Parquet files of package export back with
// an independent reader, DuckDB (C++), through its Go binding. It is a
// separate module so that DuckDB's large prebuilt library (and cgo) is
// needed only to run these tests, not to build or use nfstream:
//
//	cd internal/parquetcheck && go test ./...
package parquetcheck
