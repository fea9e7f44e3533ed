// Package sign implements the WeBank KYC signature (docs/protocol.md §3), nonces
// and order numbers.
package sign

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Sign returns the uppercase hex SHA-1 of the values sorted byte-wise and
// concatenated. Empty values are dropped, as the reference drops nulls;
// duplicates are kept.
func Sign(values ...string) string {
	vs := make([]string, 0, len(values))
	for _, v := range values {
		if v != "" {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs) // Go string order is byte order: digits < A-Z < a-z
	h := sha1.New()
	for _, v := range vs {
		h.Write([]byte(v))
	}
	var sum [sha1.Size]byte
	out := make([]byte, hex.EncodedLen(sha1.Size))
	hex.Encode(out, h.Sum(sum[:0]))
	return strings.ToUpper(string(out))
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomAlnum returns n characters from alnum, uniformly, from crypto/rand.
func randomAlnum(n int) string {
	out := make([]byte, n)
	buf := make([]byte, n+n/2)
	i := 0
	for i < n {
		if _, err := rand.Read(buf); err != nil {
			panic("sign: crypto/rand failed: " + err.Error()) // never happens on Linux
		}
		for _, b := range buf {
			// 62*4 = 248: reject 248..255 to stay uniform.
			if b >= 248 {
				continue
			}
			out[i] = alnum[int(b)%62]
			i++
			if i == n {
				break
			}
		}
	}
	return string(out)
}

// Nonce returns a 32-character random [A-Za-z0-9] string.
func Nonce() string { return randomAlnum(32) }

var orderSeq atomic.Uint32

// OrderNo returns a new order number: letters and digits, 32 characters at
// most, unique across instances without coordination. Layout: prefix (at
// most 4 letters, e.g. "id", "bk"), UTC time to the second (yyMMddHHmmss,
// so numbers sort and tell when they were made), the letter "T" (so no run
// of 13 digits looks like a card number to the log scrubber), a
// per-process counter (base 36, 3 chars) and 12 random characters (62^12 ≈
// 3e21 per second per instance makes collisions negligible).
func OrderNo(prefix string) string {
	if len(prefix) > 4 {
		prefix = prefix[:4]
	}
	seq := orderSeq.Add(1) % (36 * 36 * 36)
	var b strings.Builder
	b.Grow(32)
	b.WriteString(prefix)
	b.WriteString(time.Now().UTC().Format("060102150405"))
	b.WriteByte('T')
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b.WriteByte(digits[seq/1296])
	b.WriteByte(digits[seq/36%36])
	b.WriteByte(digits[seq%36])
	b.WriteString(randomAlnum(12))
	return b.String()
}

// ValidOrderNo reports whether s is a usable order number: 1 to 32 ASCII
// letters or digits.
func ValidOrderNo(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
