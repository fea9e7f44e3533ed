package resultfetch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/sign"
)

// The queue messages README.md and template.yaml show are the ones the code
// takes: each example, with a real order number for "…", passes
// CheckMessage (for an order number this API made, whatever its kind).
func TestDocumentedQueueMessagesAreAccepted(t *testing.T) {
	example := regexp.MustCompile(`\{"(?:kind|orderNo)":"[^"]*"(?:,"orderNo":"[^"]*")?\}`)
	for _, file := range []string{"README.md", "template.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", file))
		if err != nil {
			t.Fatal(err)
		}
		found := example.FindAllString(string(b), -1)
		if len(found) == 0 {
			t.Errorf("%s shows no queue message", file)
		}
		for _, ex := range found {
			for _, prefix := range []string{"id", "bank"} {
				orderNo := sign.OrderNo(prefix)
				msg := ex
				for _, placeholder := range []string{`"orderNo":"…"`, `"orderNo":"<orderNo>"`} {
					msg = strings.Replace(msg, placeholder, `"orderNo":"`+orderNo+`"`, 1)
				}
				msg = strings.Replace(msg, `"kind":"…"`, `"kind":"idcard"`, 1)
				var m Message
				if err := json.Unmarshal([]byte(msg), &m); err != nil {
					t.Errorf("%s: %s is not JSON: %v", file, ex, err)
					continue
				}
				if _, err := CheckMessage(m); err != nil {
					t.Errorf("%s: %s refused: %v", file, ex, err)
				}
			}
		}
	}
}
