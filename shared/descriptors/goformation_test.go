package descriptors

import (
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
	"gopkg.in/yaml.v3"
)

// template.yaml is parsed by the CloudFormation library
// (github.com/awslabs/goformation): every resource must be a known type
// and every property of the type and shape the CloudFormation and SAM
// specifications give it.
//
// One gap of the library is bridged here, not skipped: its SAM Function
// type predates SAM's LoggingConfig (passed through to the Lambda
// function). Each function's LoggingConfig is checked as what it becomes,
// the LoggingConfig of an AWS::Lambda::Function, by the same library.
func parseTemplate(t *testing.T, text string) (*cloudformation.Template, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	resources := path(doc.Content[0], "Resources")
	var checks []*yaml.Node
	for _, e := range entries(resources) {
		if str(get(e.Val, "Type")) != "AWS::Serverless::Function" {
			continue
		}
		props := get(e.Val, "Properties")
		for i := 0; props != nil && i+1 < len(props.Content); i += 2 {
			if props.Content[i].Value != "LoggingConfig" {
				continue
			}
			lc := props.Content[i+1]
			props.Content = append(props.Content[:i], props.Content[i+2:]...)
			var check yaml.Node
			if err := yaml.Unmarshal([]byte("Type: AWS::Lambda::Function\nProperties:\n  Role: r\n  Code: {ZipFile: x}\n"), &check); err != nil {
				t.Fatal(err)
			}
			cp := get(check.Content[0], "Properties")
			cp.Content = append(cp.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "LoggingConfig"}, lc)
			checks = append(checks, &yaml.Node{Kind: yaml.ScalarNode, Value: e.Key + "LoggingConfigCheck"}, check.Content[0])
			break
		}
	}
	resources.Content = append(resources.Content, checks...)
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return goformation.ParseYAMLWithOptions(out, &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{"Ref": ref},
	})
}

// ref resolves Ref as CloudFormation would for type checking: a parameter
// to its default, a pseudo parameter or a resource to a placeholder
// string (the library's own handler leaves resources out).
func ref(_ string, input any, template any) any {
	name, _ := input.(string)
	if tm, ok := template.(map[string]any); ok {
		if params, ok := tm["Parameters"].(map[string]any); ok {
			if p, ok := params[name].(map[string]any); ok {
				return p["Default"]
			}
		}
	}
	return "ref:" + name
}

func TestTemplateIsTypedCloudFormation(t *testing.T) {
	tmpl, err := parseTemplate(t, readFile(t, "template.yaml"))
	if err != nil {
		t.Fatalf("template.yaml does not parse as CloudFormation/SAM: %v", err)
	}
	fns := tmpl.GetAllServerlessFunctionResources()
	if len(fns) != 6 {
		t.Errorf("%d serverless functions", len(fns))
	}
	for id, f := range fns {
		if f.Runtime == nil || *f.Runtime != "provided.al2023" || f.Handler == nil || *f.Handler != "bootstrap" ||
			len(f.Architectures) != 1 || f.Architectures[0] != "arm64" {
			t.Errorf("%s: runtime %v, handler %v, architectures %v", id, f.Runtime, f.Handler, f.Architectures)
		}
		if f.Environment == nil || len(f.Environment.Variables) == 0 {
			t.Errorf("%s: no environment", id)
		}
	}
	checks := 0
	for id, fn := range tmpl.GetAllLambdaFunctionResources() {
		if strings.HasSuffix(id, "LoggingConfigCheck") && fn.LoggingConfig != nil && fn.LoggingConfig.LogGroup != nil {
			checks++
		}
	}
	if checks != len(fns) {
		t.Errorf("%d functions have a typed LoggingConfig with a log group, want %d", checks, len(fns))
	}
	if len(tmpl.GetAllLogsLogGroupResources()) < len(fns) || len(tmpl.GetAllSQSQueueResources()) != 2 || len(tmpl.GetAllS3BucketResources()) != 1 {
		t.Errorf("log groups %d, queues %d, buckets %d", len(tmpl.GetAllLogsLogGroupResources()), len(tmpl.GetAllSQSQueueResources()), len(tmpl.GetAllS3BucketResources()))
	}
}

// A property of the wrong type, or a resource type that does not exist,
// fails the typed parse.
func TestBrokenTemplatesFailTheTypedParse(t *testing.T) {
	good := readFile(t, "template.yaml")
	for name, broken := range map[string]string{
		"a string where a list is required": strings.Replace(good, "Architectures: [arm64]", "Architectures: arm64", 1),
		"a list where a string is required": strings.Replace(good, "Runtime: provided.al2023", "Runtime: [provided.al2023]", 1),
		"an unknown resource type":          strings.Replace(good, "\nResources:\n", "\nResources:\n  Bogus:\n    Type: AWS::Lambda::Functon\n    Properties: {}\n", 1),
		"an unknown property":               strings.Replace(good, "Handler: bootstrap", "Handler: bootstrap\n      Handlr: bootstrap", 1),
	} {
		if broken == good {
			t.Fatalf("%s: the mutation did not apply", name)
		}
		if _, err := parseTemplate(t, broken); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}
