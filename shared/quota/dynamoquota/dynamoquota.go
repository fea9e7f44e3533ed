// Package dynamoquota is the DynamoDB backend of the quota store (AWS).
// Importing it registers dynamodb://TABLE[?region=…&endpoint=…]. One day's
// counts are one item, {pk: <day>, t_<tenant>: n, total: n, expiresAt},
// changed by one UpdateItem: ADD of both counts with a condition on both
// limits, so the check and the increments are atomic in one round trip.
// expiresAt (epoch seconds, two days after the day) is the table's TTL
// attribute. Credentials: Lambda's environment, read at every call.
package dynamoquota

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardocr/cardocr/shared/quota"
)

func init() { quota.Register("dynamodb", open) }

// Store is a quota.Store on a DynamoDB table whose partition key is "pk"
// (a string).
type Store struct {
	c     *dynamodb.Client
	table string
}

func open(_ context.Context, u *url.URL) (quota.Store, error) {
	q := u.Query()
	region := q.Get("region")
	if region == "" {
		region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if u.Host == "" || region == "" {
		return nil, errors.New("quota: dynamodb://TABLE needs a table and a region (?region= or AWS_REGION)")
	}
	o := dynamodb.Options{
		Region: region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			id, key := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
			if id == "" || key == "" {
				return aws.Credentials{}, errors.New("quota: dynamodb: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
			}
			return aws.Credentials{AccessKeyID: id, SecretAccessKey: key, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}, nil
		}),
	}
	if e := q.Get("endpoint"); e != "" {
		o.BaseEndpoint = aws.String(e)
	} else if e := firstEnv("AWS_ENDPOINT_URL_DYNAMODB"); e != "" {
		o.BaseEndpoint = aws.String(e)
	}
	return &Store{c: dynamodb.New(o), table: u.Host}, nil
}

func expires(day string) string {
	t, err := time.Parse("2006-01-02", day)
	if err != nil {
		t = time.Now()
	}
	return strconv.FormatInt(t.AddDate(0, 0, 3).Unix(), 10)
}

func (s *Store) Reserve(ctx context.Context, day string, c quota.Counters) (bool, error) {
	var cond []string
	vals := map[string]types.AttributeValue{
		":one": &types.AttributeValueMemberN{Value: "1"},
		":exp": &types.AttributeValueMemberN{Value: expires(day)},
	}
	if c.TenantLimit > 0 {
		cond = append(cond, "(attribute_not_exists(#t) OR #t < :tl)")
		vals[":tl"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.TenantLimit, 10)}
	}
	if c.TotalLimit > 0 {
		cond = append(cond, "(attribute_not_exists(#n) OR #n < :cap)")
		vals[":cap"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.TotalLimit, 10)}
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: day}},
		UpdateExpression:          aws.String("ADD #t :one, #n :one SET expiresAt = :exp"),
		ExpressionAttributeNames:  map[string]string{"#t": "t_" + c.Tenant, "#n": "total"},
		ExpressionAttributeValues: vals,
	}
	if len(cond) > 0 {
		in.ConditionExpression = aws.String(strings.Join(cond, " AND "))
	}
	_, err := s.c.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ccf):
		return false, nil
	}
	return false, fmt.Errorf("quota: dynamodb UpdateItem: %w", err)
}

func (s *Store) Release(ctx context.Context, day string, c quota.Counters) error {
	_, err := s.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: day}},
		UpdateExpression:          aws.String("ADD #t :minus, #n :minus"),
		ConditionExpression:       aws.String("#t > :zero AND #n > :zero"),
		ExpressionAttributeNames:  map[string]string{"#t": "t_" + c.Tenant, "#n": "total"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":minus": &types.AttributeValueMemberN{Value: "-1"}, ":zero": &types.AttributeValueMemberN{Value: "0"}},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("quota: dynamodb UpdateItem: %w", err)
	}
	return nil
}

func (s *Store) Counts(ctx context.Context, day string) (map[string]int64, error) {
	out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: day}}})
	if err != nil {
		return nil, fmt.Errorf("quota: dynamodb GetItem: %w", err)
	}
	m := map[string]int64{}
	for k, v := range out.Item {
		n, ok := v.(*types.AttributeValueMemberN)
		if !ok || k == "expiresAt" {
			continue
		}
		x, _ := strconv.ParseInt(n.Value, 10, 64)
		if k == "total" {
			m[""] = x
		} else {
			m[strings.TrimPrefix(k, "t_")] = x
		}
	}
	return m, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func suspendKey(provider string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "suspended#" + provider}}
}

// Suspend writes the provider's flag (the table's TTL removes it later).
func (s *Store) Suspend(ctx context.Context, provider, reason string, until time.Time) error {
	item := suspendKey(provider)
	item["reason"] = &types.AttributeValueMemberS{Value: reason}
	item["until"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(until.UnixMilli(), 10)}
	item["expiresAt"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(until.Add(time.Hour).Unix(), 10)}
	if _, err := s.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return fmt.Errorf("quota: dynamodb PutItem: %w", err)
	}
	return nil
}

// Suspension reads the provider's flag.
func (s *Store) Suspension(ctx context.Context, provider string) (string, time.Time, error) {
	out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true), Key: suspendKey(provider)})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("quota: dynamodb GetItem: %w", err)
	}
	r, _ := out.Item["reason"].(*types.AttributeValueMemberS)
	u, _ := out.Item["until"].(*types.AttributeValueMemberN)
	if r == nil || u == nil {
		return "", time.Time{}, nil
	}
	ms, _ := strconv.ParseInt(u.Value, 10, 64)
	return r.Value, time.UnixMilli(ms), nil
}
