package cardcheck_test

import (
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
)

func BenchmarkCheckIDCard(b *testing.B) {
	now := time.Date(2025, time.June, 1, 12, 0, 0, 0, time.UTC)
	in := cardcheck.IDCardFields{
		IDNumber:  synthID(b, "110105", "19881001", "001"),
		Birth:     "19881001",
		Sex:       "男",
		ValidDate: "2019.01.28-2039.01.28",
	}
	b.ReportAllocs()
	for b.Loop() {
		c := cardcheck.CheckIDCard(in, now)
		if !*c.IDNumberValid {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkDecodeIDWarnings(b *testing.B) {
	for _, s := range []string{"00000000", "10010100"} {
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = cardcheck.DecodeIDWarnings(s)
			}
		})
	}
}

func BenchmarkDecodeBankWarnings(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = cardcheck.DecodeBankWarnings("[-9110,-9111,-9114]")
	}
}
