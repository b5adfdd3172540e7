package torch

import "testing"

func TestBF16FlagIn(t *testing.T) {
	cases := []struct{ info, want string }{
		{"processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni\n", "avx512_bf16"},
		{"flags\t\t: fpu amx_tile amx_bf16 amx_int8\n", "amx_bf16"},
		{"flags\t\t: fpu sse avx avx2 fma\nbugs\t\t: avx512_bf16\n", ""}, // only the flags line counts
		{"flags\t\t: avx512_bf16x\n", ""},                                // whole words only
		{"model name\t: AMD EPYC\n", ""},
		{"", ""},
	}
	for _, c := range cases {
		if got := bf16FlagIn([]byte(c.info)); got != c.want {
			t.Errorf("bf16FlagIn(%q) = %q, want %q", c.info, got, c.want)
		}
	}
}

func TestCPUBF16(t *testing.T) {
	if use, note := CPUBF16(false, true); use || note != "" {
		t.Errorf("not wanted: use %v, note %q", use, note)
	}
	if use, note := CPUBF16(true, true); !use || note != "" {
		t.Errorf("forced: use %v, note %q", use, note)
	}
	use, note := CPUBF16(true, false)
	if use != BF16Supported() || (note == "") != use {
		t.Errorf("wanted on a CPU with support %v (flag %q): use %v, note %q", BF16Supported(), CPUBF16Flag(), use, note)
	}
}
