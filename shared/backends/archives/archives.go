// Package archives links the cloud archive backends for this build (see
// package backends): import it for its side effects.
package archives
