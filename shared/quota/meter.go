package quota

import (
	"context"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
)

// Meter reserves each billable call of a tenant against its daily quota
// and the deployment's cap (ocr.Service.Quota).
type Meter struct {
	Store Store
	Cap   int64 // DAILY_SPEND_CAP: billable calls per day for the deployment; 0: none
	Now   func() time.Time
}

func (m *Meter) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Reserve counts one call of tenant (limit: its daily quota, 0 none)
// before it is made. It returns a release to call when the call was not
// billed, or quota_exceeded (with the time until the next day) when a
// limit is reached; when the store cannot count, store_unavailable: no
// call is made that could not be counted.
func (m *Meter) Reserve(ctx context.Context, tenant string, limit int) (release func(), err error) {
	if tenant == "" {
		tenant = "default"
	}
	now := m.now()
	day := Day(now)
	c := Counters{Tenant: tenant, TenantLimit: int64(limit), TotalLimit: m.Cap}
	ok, err := m.Store.Reserve(ctx, day, c)
	if err != nil {
		return nil, &errcode.Error{Code: errcode.StoreUnavailable, Retryable: true, Err: err,
			Message: "the quota store did not answer; nothing was sent upstream, try again"}
	}
	if !ok {
		return nil, &errcode.Error{Code: errcode.QuotaExceeded, RetryAfter: UntilTomorrow(now),
			Message: "the daily quota of billable calls is used up (this API key's tenant, or the deployment's cap); it renews at midnight China time"}
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		_ = m.Store.Release(rctx, day, c)
	}, nil
}
