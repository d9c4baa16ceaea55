// Package collector keeps the watched documents and what AssureSign last said
// of them, and decides what the exporter says about them.
//
//   - store.go: the Store, the cache behind every scrape (documents, their last
//     known status, their schedule); state.go what of it survives a restart.
//   - refresher.go, schedule.go: the Refresher, which checks the documents in
//     rounds and batches, sooner when a notification or a reload asks, and
//     backs off as AssureSign says; envelopes.go lists watched envelopes.
//   - families.go: the document families, one row each, and publish, which
//     turns the store's documents into an exposition.Exposition for scrapes.
//   - metrics.go: the exporter's own metrics; overview.go what the landing page
//     shows of the documents, never a secret.
//
// How the exposition is rendered, compressed and written is package
// exposition's; package server serves it.
package collector
