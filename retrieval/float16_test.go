package retrieval

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFloat16RoundTripAllHalves(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := Float16ToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			require.Equal(t, uint16(0x7c00), uint16(h)&0x7c00, "NaN only from exponent 31: %04x", h)
			require.True(t, math.IsNaN(float64(Float16ToFloat32(Float32ToFloat16(f)))))
			continue
		}
		require.Equal(t, uint16(h), Float32ToFloat16(f), "half %04x -> %v", h, f)
	}
}

func TestFloat16KnownValues(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{
		{0, 0x0000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65520, 0x7c00},                   // rounds up to Inf
		{float32(math.Exp2(-24)), 0x0001}, // smallest subnormal
		{float32(math.Exp2(-25)), 0x0000}, // halfway to it, ties to even
		{float32(1 + math.Exp2(-11)), 0x3c00},
		{float32(1 + 3*math.Exp2(-11)), 0x3c02},
		{float32(math.Inf(-1)), 0xfc00},
	}
	for _, c := range cases {
		require.Equal(t, c.h, Float32ToFloat16(c.f), "%v", c.f)
	}
	require.Equal(t, float32(0.333251953125), Float16ToFloat32(0x3555))
	require.True(t, math.Signbit(float64(Float16ToFloat32(0x8000))))
}
