// Package refresh asks AssureSign, through an upstream.API, about the watched
// documents and envelopes, and writes what it hears into the store (package
// collector).
//
//   - refresher.go: the Refresher, which checks the documents in rounds and
//     batches, sooner when a notification or a reload asks, and backs off as
//     AssureSign says; schedule.go how long each document waits.
//   - push.go: DocumentTRAK's trust, judged against what checks find, and
//     the reconciliation of open documents while push is trusted.
//   - envelopes.go: the watched envelopes' listings, and Expansion, the one
//     rule that turns them into documents to watch (--check applies it too).
//   - metrics.go: the exporter's own metrics, the client's Observe hook among
//     them.
package refresh
