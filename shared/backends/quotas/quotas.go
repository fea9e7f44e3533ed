// Package quotas links the quota store backends for this build (see
// package backends): import it for its side effects.
package quotas
