package assuresign

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsGUID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"2CE11EF1-8938-DD11-8735-00065B8CE99B", true},
		{"2ce11ef1-8938-dd11-8735-00065b8ce99b", true},
		{"2cE11eF1-8938-Dd11-8735-00065B8ce99B", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"", false},
		{"{2CE11EF1-8938-DD11-8735-00065B8CE99B}", false},
		{"(2CE11EF1-8938-DD11-8735-00065B8CE99B)", false},
		{" 2CE11EF1-8938-DD11-8735-00065B8CE99B", false},
		{"2CE11EF1-8938-DD11-8735-00065B8CE99B ", false},
		{"2CE11EF1-8938-DD11-8735-00065B8CE99", false},
		{"2CE11EF1-8938-DD11-8735-00065B8CE99BB", false},
		{"2CE11EF18938DD11873500065B8CE99B", false},
		{"2CE11EF1-8938-DD11-873500065B8CE99B-", false},
		{"2CE11EF-18938-DD11-8735-00065B8CE99B", false},
		{"2CE11EF1_8938_DD11_8735_00065B8CE99B", false},
		{"2CE11EF1-8938-DD11-8735-00065B8CE99G", false},
		{"2CE11EF1-8938-DD11-8735-00065B8CE9é", false},
		{"2CE11EF1-8938-DD11-8735-00065B8CE9\x00B", false},
		{"urn:uuid:2CE11EF1-8938-DD11-8735-00065B8", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, IsGUID(tt.in), "%q", tt.in)
	}
}
