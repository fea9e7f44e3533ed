package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	_ "github.com/cardocr/cardocr/shared/backends/quotas" // redis://, dynamodb://
)

// quotaOverhead: the warm overhead of a submit and a query with each quota
// store on (the file the local stack uses; redis-server and dynalite when
// installed, on loopback) beside the same without one, in the same run. A
// submit pays one store round trip (the conditional increment); a query
// none.
func quotaOverhead(ctx context.Context, n int, redisBin, dynaliteBin string) {
	baseSub, baseQry := warmRun(ctx, n, map[string]string{"QUOTA_STORE_URL": "off"})
	b50, b99, q50 := pct(baseSub, 50), pct(baseSub, 99), pct(baseQry, 50)
	stores := []struct{ name, url string }{{"file (make run)", ""}} // "": the stack's own file
	if url, stop := startRedis(ctx, redisBin); url != "" {
		defer stop()
		stores = append(stores, struct{ name, url string }{"redis-server", url})
	}
	if url, stop := startDynalite(ctx, dynaliteBin); url != "" {
		defer stop()
		stores = append(stores, struct{ name, url string }{"dynalite (DynamoDB API)", url})
	}
	for _, st := range stores {
		extra := map[string]string{}
		if st.url != "" {
			extra["QUOTA_STORE_URL"] = st.url
		}
		sub, qry := warmRun(ctx, n, extra)
		p50, p99, qp50 := pct(sub, 50), pct(sub, 99), pct(qry, 50)
		row("warm overhead, submit p50, quota store "+st.name, ms(p50), ms(b50)+" no quota store", fmt.Sprintf("%.2f×", float64(p50)/float64(b50)))
		row("warm overhead, submit p99, quota store "+st.name, ms(p99), ms(b99), fmt.Sprintf("%.2f×", float64(p99)/float64(b99)))
		row("warm overhead, query p50, quota store "+st.name, ms(qp50), ms(q50)+" no quota store", fmt.Sprintf("%.2f×", float64(qp50)/float64(q50)))
	}
}

// startRedis runs redis-server on a loopback port without persistence.
func startRedis(ctx context.Context, bin string) (string, func()) {
	path, err := exec.LookPath(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: redis-server not found; its quota-store figures are skipped")
		return "", nil
	}
	port := freePort()
	cmd := exec.CommandContext(ctx, path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		return "", nil
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	if !waitPort(port) {
		stop()
		return "", nil
	}
	return "redis://127.0.0.1:" + port + "/0", stop
}

// startDynalite runs dynalite on a loopback port and creates the quota
// table as template.yaml does (pk: S, on demand).
func startDynalite(ctx context.Context, bin string) (string, func()) {
	path, err := exec.LookPath(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: dynalite not found (npm install dynalite; DYNALITE=path); its quota-store figures are skipped")
		return "", nil
	}
	port := freePort()
	cmd := exec.CommandContext(ctx, path, "--host", "127.0.0.1", "--port", port, "--createTableMs", "0")
	if err := cmd.Start(); err != nil {
		return "", nil
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	if !waitPort(port) {
		stop()
		return "", nil
	}
	os.Setenv("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
	os.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	endpoint := "http://127.0.0.1:" + port
	c := dynamodb.New(dynamodb.Options{Region: "ap-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDLOCAL", SecretAccessKey: "local"}, nil
		})})
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("quota"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "bench: dynalite:", err)
		stop()
		return "", nil
	}
	for range 50 {
		d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("quota")})
		if err == nil && d.Table.TableStatus == types.TableStatusActive {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "dynamodb://quota?region=ap-east-1&endpoint=" + endpoint, stop
}

func waitPort(port string) bool {
	for range 200 {
		if c, err := (&net.Dialer{Timeout: 100 * time.Millisecond}).Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
