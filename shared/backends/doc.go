// Package backends documents how binaries link the cloud backends of the
// secret stores (package secrets) and archives (package archives).
//
// A binary for one cloud never needs the other cloud's SDK, and each SDK
// costs binary size and init time (cold start). So the backends are chosen
// by build tag: scripts/build.sh builds dist/aws/* with -tags cardocr_aws
// (awssm://, s3://) and dist/scf/* with -tags cardocr_scf (tencentssm://,
// cos://). Without either tag (go run, go test, local use) both clouds are
// linked. file:// is always there.
package backends
