// Package emulator is a strict, in-process emulator of the WeBank KYC API
// (placeholder comment, completed below).
package emulator
