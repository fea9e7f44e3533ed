// Command hello is the baseline for scripts/coldstart.sh: the smallest
// aws-lambda-go function, built the same way as the real functions.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, event json.RawMessage) (string, error) {
		return "hello", nil
	})
}
