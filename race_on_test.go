//go:build race

package nfstream_test

const raceEnabled = true
