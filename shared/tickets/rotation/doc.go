// Package rotation holds only the rotation test of the ticket design
// (issue 4): the whole stack (refreshers, 8 API instances with their own
// caches, the emulator with scaled lifetimes) for a minute. It lives apart
// from package tickets so that the tickets unit tests do not depend on the
// rest of the stack.
package rotation
