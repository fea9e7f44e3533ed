package dynamoquota_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardocr/cardocr/shared/quota"
	_ "github.com/cardocr/cardocr/shared/quota/dynamoquota"
	"github.com/cardocr/cardocr/shared/quota/quotatest"
)

func TestMain(m *testing.M) {
	quotatest.RunHelper()
	os.Exit(m.Run())
}

// startDynalite runs dynalite (npm: an independent DynamoDB implementation)
// on a loopback port and creates the table as template.yaml does (pk: S).
func startDynalite(t *testing.T) string {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_SESSION_TOKEN", "")
	port := quotatest.FreePort(t)
	bin := os.Getenv("DYNALITE")
	if bin == "" {
		bin = "dynalite"
	}
	quotatest.Server(t, "dynalite", bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--createTableMs", "0")
	quotatest.WaitPort(t, port)
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	c := dynamodb.New(dynamodb.Options{Region: "ap-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDLOCAL", SecretAccessKey: "local"}, nil
		})})
	ctx := context.Background()
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("quota"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("quota")})
		if err == nil && d.Table.TableStatus == types.TableStatusActive {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "dynamodb://quota?region=ap-east-1&endpoint=" + endpoint
}

func TestDynamoConformance(t *testing.T) {
	st, err := quota.Open(context.Background(), startDynalite(t))
	if err != nil {
		t.Fatal(err)
	}
	quotatest.Conformance(t, st)
}

func TestDynamoAcrossProcesses(t *testing.T) {
	quotatest.AcrossProcesses(t, startDynalite(t), 50)
}
