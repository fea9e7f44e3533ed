// Package loadtest drives a running API with concurrent clients for a
// bounded time and reports latency percentiles and status counts. It only
// ever targets the base URL it is given (tests and make bench pass a
// loopback address).
package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Request makes the i-th request of a client.
type Request func(ctx context.Context, client, i int) (*http.Request, error)

// Options bound a run.
type Options struct {
	Clients  int
	Duration time.Duration
	MaxTotal int // stop after this many requests in all (0: no limit)
}

// Result summarizes a run.
type Result struct {
	Requests   int
	Errors     int // transport errors
	Status     map[int]int
	P50, P99   time.Duration
	Max        time.Duration
	Elapsed    time.Duration
	Throughput float64 // requests per second
}

// Run drives the requests until Duration or MaxTotal is reached.
func Run(ctx context.Context, o Options, make Request) Result {
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: o.Clients, MaxConnsPerHost: o.Clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		mu    sync.Mutex
		lat   []time.Duration
		res   = Result{Status: map[int]int{}}
		total int
		wg    sync.WaitGroup
	)
	start := time.Now()
	for c := 0; c < o.Clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				mu.Lock()
				if o.MaxTotal > 0 && total >= o.MaxTotal {
					mu.Unlock()
					return
				}
				total++
				mu.Unlock()
				req, err := make(context.WithoutCancel(ctx), c, i)
				if err != nil {
					return
				}
				t0 := time.Now()
				resp, err := hc.Do(req)
				d := time.Since(t0)
				mu.Lock()
				res.Requests++
				if err != nil {
					res.Errors++
				} else {
					res.Status[resp.StatusCode]++
					lat = append(lat, d)
				}
				mu.Unlock()
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}(c)
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		res.P50 = lat[n/2]
		res.P99 = lat[min(n-1, n*99/100)]
		res.Max = lat[n-1]
	}
	res.Throughput = float64(res.Requests) / res.Elapsed.Seconds()
	return res
}

// Count5xx counts answers with a 5xx status.
func (r Result) Count5xx() int {
	n := 0
	for st, c := range r.Status {
		if st >= 500 {
			n += c
		}
	}
	return n
}

func (r Result) String() string {
	return fmt.Sprintf("%d requests in %v (%.0f/s), p50 %v, p99 %v, max %v, statuses %v, transport errors %d",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.Throughput, r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond),
		r.Max.Round(10*time.Microsecond), r.Status, r.Errors)
}

// JSONPost builds a POST of a fixed JSON body with a bearer key.
func JSONPost(url, key string, body []byte) Request {
	return func(ctx context.Context, _, _ int) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		return req, nil
	}
}
