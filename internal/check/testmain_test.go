package check

import (
	"testing"

	"github.com/assuresign-exporter/assuresign_exporter/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
