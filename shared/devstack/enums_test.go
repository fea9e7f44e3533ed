package devstack

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/providers"
)

// The OpenAPI description's provider enums are the registry's: every
// "provider" property lists exactly the registered providers that read its
// kind (the local stack links all of them), in registry order or not.
func TestOpenAPIProviderEnumsAreTheRegistry(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, d := range providers.All() {
		for _, k := range d.Kinds {
			want[k] = append(want[k], d.Name)
		}
	}
	seen := map[string]int{}
	var walk func(where string, s *openapi3.SchemaRef, depth int)
	walk = func(where string, s *openapi3.SchemaRef, depth int) {
		if s == nil || s.Value == nil || depth > 8 {
			return
		}
		for name, p := range s.Value.Properties {
			if name == "provider" && p.Value != nil && len(p.Value.Enum) > 0 {
				kind := ocr.KindIDCard
				if strings.Contains(strings.ToLower(where), "bankcard") {
					kind = ocr.KindBankCard
				}
				var got []string
				for _, v := range p.Value.Enum {
					got = append(got, v.(string))
				}
				slices.Sort(got)
				w := slices.Sorted(slices.Values(want[kind]))
				if !slices.Equal(got, w) {
					t.Errorf("%s: provider enum %v, the registry's %s providers are %v", where, got, kind, w)
				}
				seen[kind]++
				continue
			}
			walk(where, p, depth+1)
		}
		for _, x := range append(append(s.Value.AllOf, s.Value.OneOf...), s.Value.AnyOf...) {
			walk(where, x, depth+1)
		}
	}
	for name, s := range doc.Components.Schemas {
		walk("components/schemas/"+name, s, 0)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			for _, mt := range op.RequestBody.Value.Content {
				walk(method+" "+path, mt.Schema, 0)
			}
		}
	}
	if seen[ocr.KindIDCard] == 0 || seen[ocr.KindBankCard] == 0 {
		t.Errorf("no provider enum found for a kind: %v", seen)
	}
}
