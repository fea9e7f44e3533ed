// Package secrets links the cloud secret store backends for this build
// (see package backends): import it for its side effects.
package secrets
