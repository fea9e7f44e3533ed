package redisquota_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/cardocr/cardocr/shared/quota"
	"github.com/cardocr/cardocr/shared/quota/quotatest"
	_ "github.com/cardocr/cardocr/shared/quota/redisquota"
)

func TestMain(m *testing.M) {
	quotatest.RunHelper()
	os.Exit(m.Run())
}

// startRedis runs a real redis-server (Debian's) on a loopback port.
func startRedis(t *testing.T) string {
	port := quotatest.FreePort(t)
	quotatest.Server(t, "redis-server", "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "yes")
	quotatest.WaitPort(t, port)
	return "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
}

func TestRedisConformance(t *testing.T) {
	st, err := quota.Open(context.Background(), startRedis(t))
	if err != nil {
		t.Fatal(err)
	}
	quotatest.Conformance(t, st)
}

func TestRedisAcrossProcesses(t *testing.T) {
	quotatest.AcrossProcesses(t, startRedis(t), 50)
}
