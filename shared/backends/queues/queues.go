// Package queues links the queue backends for this build (see package
// backends): import it for its side effects.
package queues
