package platform

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

// runAWS serves the AWS Lambda Runtime API through aws-lambda-go, which
// handles the next/response/error loop, the deadline (Lambda-Runtime-Deadline-Ms
// in the context), AWS_LAMBDA_MAX_CONCURRENCY, and panics (reported to /error,
// then the process exits). It returns only if ctx is done before the loop
// starts; aws-lambda-go exits the process itself on a Runtime API failure.
func runAWS(ctx context.Context, d *dispatcher) error {
	handler := func(ctx context.Context, payload json.RawMessage) (any, error) {
		return d.handle(ctx, payload)
	}
	lambda.StartWithOptions(handler, lambda.WithContext(ctx))
	return ctx.Err()
}
