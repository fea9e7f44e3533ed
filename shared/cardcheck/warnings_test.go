package cardcheck_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/cardcheck"
)

func codes(ws []cardcheck.Warning) []string {
	if ws == nil {
		return nil
	}
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Code
	}
	return out
}

func TestDecodeIDWarnings(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"00000000", nil},
		{"", nil},
		{"0", nil},
		{" 00000000 ", nil},
		{"10000000", []string{"border_incomplete"}},
		{"01000000", []string{"photocopy"}},
		{"00100000", []string{"invalid_date"}},
		{"00010000", []string{"recaptured"}},
		{"00001000", []string{"temporary_card"}},
		{"00000100", []string{"occluded"}},
		{"00000010", []string{"warning_bit_6"}},
		{"00000001", []string{"warning_bit_7"}},
		// The documented example: border + recaptured + occluded.
		{"10010100", []string{"border_incomplete", "recaptured", "occluded"}},
		{"11111111", []string{"border_incomplete", "photocopy", "invalid_date", "recaptured", "temporary_card", "occluded", "warning_bit_6", "warning_bit_7"}},
		{"1", []string{"unrecognized_warning"}},
		{"0000000", []string{"unrecognized_warning"}},
		{"000000000", []string{"unrecognized_warning"}},
		{"0000000a", []string{"unrecognized_warning"}},
		{"-9110", []string{"unrecognized_warning"}},
		{"00000０00", []string{"unrecognized_warning"}},
		{"null", []string{"unrecognized_warning"}},
	}
	for _, tt := range tests {
		got := cardcheck.DecodeIDWarnings(tt.in)
		if !reflect.DeepEqual(codes(got), tt.want) {
			t.Errorf("DecodeIDWarnings(%q) = %v, want %v", tt.in, codes(got), tt.want)
		}
		for _, w := range got {
			if w.Message == "" {
				t.Errorf("%s has no message", w.Code)
			}
			if strings.TrimSpace(tt.in) != "" && strings.Contains(w.Message+w.Code, strings.TrimSpace(tt.in)) {
				t.Errorf("%q echoed in %+v", tt.in, w)
			}
		}
	}
}

func TestMergeIDWarnings(t *testing.T) {
	got := cardcheck.MergeIDWarnings("10010000", "00010100", "", "garbage", "xx")
	want := []string{"border_incomplete", "recaptured", "occluded", "unrecognized_warning"}
	if !reflect.DeepEqual(codes(got), want) {
		t.Errorf("got %v, want %v", codes(got), want)
	}
	if got := cardcheck.MergeIDWarnings("00000000", "0", ""); got != nil {
		t.Errorf("got %v, want nil", got)
	}
}

func TestMergeWarnings(t *testing.T) {
	a := cardcheck.DecodeIDWarnings("01000000")
	b := cardcheck.DecodeBankWarnings("[-9113,-9112]")
	got := cardcheck.MergeWarnings(a, nil, b)
	want := []string{"photocopy", "reflection"}
	if !reflect.DeepEqual(codes(got), want) {
		t.Errorf("got %v, want %v", codes(got), want)
	}
}

func TestDecodeBankWarnings(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"0", nil},
		{"", nil},
		{"[]", nil},
		{" 0 ", nil},
		{"[0]", nil},
		{"-9110", []string{"invalid_date"}},
		{"-9111", []string{"border_incomplete"}},
		{"-9112", []string{"reflection"}},
		{"-9113", []string{"photocopy"}},
		{"-9114", []string{"recaptured"}},
		{"66661009", []string{"card_expired"}},
		{"[-9110,-9111,-9114]", []string{"invalid_date", "border_incomplete", "recaptured"}},
		{"[ -9110, -9111 , -9114 ]", []string{"invalid_date", "border_incomplete", "recaptured"}},
		{"-9110,-9111", []string{"invalid_date", "border_incomplete"}},
		{"-9110, -9111", []string{"invalid_date", "border_incomplete"}},
		{"-9110|-9111", []string{"invalid_date", "border_incomplete"}},
		{`["-9110","-9112"]`, []string{"invalid_date", "reflection"}},
		{"-9110,-9110", []string{"invalid_date"}},
		{"-9115", []string{"bank_warning_-9115"}},
		{"[-9110,12345]", []string{"invalid_date", "bank_warning_12345"}},
		{"abc", []string{"unrecognized_warning"}},
		{"-9110,abc,xyz", []string{"invalid_date", "unrecognized_warning"}},
		{"--9110", []string{"unrecognized_warning"}},
		{"99999999999999999999", []string{"unrecognized_warning"}},
		{strings.Repeat("-9110,", 100), []string{"unrecognized_warning"}},
	}
	for _, tt := range tests {
		got := cardcheck.DecodeBankWarnings(tt.in)
		if !reflect.DeepEqual(codes(got), tt.want) {
			t.Errorf("DecodeBankWarnings(%q) = %v, want %v", tt.in, codes(got), tt.want)
		}
	}
}

func TestMergeBankWarnings(t *testing.T) {
	got := cardcheck.MergeBankWarnings("-9110", "[-9110,-9114]", "0")
	want := []string{"invalid_date", "recaptured"}
	if !reflect.DeepEqual(codes(got), want) {
		t.Errorf("got %v, want %v", codes(got), want)
	}
}
