package main

import (
	"testing"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

// TestMain removes the exporter binary that TestBinary and
// TestDocumentTRAKBinary share (see testenv.BuildBinary).
func TestMain(m *testing.M) { testenv.Main(m) }
