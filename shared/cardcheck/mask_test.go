package cardcheck_test

import (
	"testing"

	"github.com/cardocr/cardocr/shared/cardcheck"
)

func TestMaskIDNumber(t *testing.T) {
	id := synthID(t, "110105", "19491231", "002") // 11010519491231002X
	tests := map[string]string{
		id:                "11**************2X",
		"110105881001001": "11***********01",
		"12345678":        "12****78",
		"1234567":         "1******",
		"123":             "1**",
		"12":              "**",
		"1":               "*",
		"":                "",
		" " + id + " ":    "11**************2X",
		"１１０１０５１９４９１２３１": "１１**********３１",
	}
	for in, want := range tests {
		if got := cardcheck.MaskIDNumber(in); got != want {
			t.Errorf("MaskIDNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskCardNumber(t *testing.T) {
	tests := map[string]string{
		"6217000000001234567": "6217***********4567",
		"6217 0000 0000 1234": "6217********1234",
		"4111-1111-1111-1111": "4111********1111",
		"123456789012":        "1234****9012",
		"12345678901":         "1**********",
		"1234":                "1***",
		"":                    "",
		"--":                  "",
	}
	for in, want := range tests {
		if got := cardcheck.MaskCardNumber(in); got != want {
			t.Errorf("MaskCardNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskName(t *testing.T) {
	tests := map[string]string{
		"张三":     "张*",
		"欧阳娜娜":   "欧*",
		"张":      "*",
		"":       "",
		" 李四 ":   "李*",
		"Alice":  "A*",
		"\xff":   "*",
		"\xffab": "*",
	}
	for in, want := range tests {
		if got := cardcheck.MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMasksNeverReturnInput(t *testing.T) {
	inputs := []string{"a", "ab", "abc", "abcd", "abcde", "张", "张三", "11010519491231002X", "6217000000001234567", "x y", "\x00"}
	for _, in := range inputs {
		for name, f := range map[string]func(string) string{
			"MaskIDNumber": cardcheck.MaskIDNumber, "MaskCardNumber": cardcheck.MaskCardNumber, "MaskName": cardcheck.MaskName,
		} {
			if got := f(in); got == in {
				t.Errorf("%s(%q) returned the input", name, in)
			}
		}
	}
}
