// Package collector is the store: it keeps the watched documents and what
// AssureSign last said of them, and decides what the exporter says about them.
// It never calls AssureSign; package refresh does, and writes what it hears
// here.
//
//   - store.go: the Store, the cache behind every scrape (documents, their last
//     known status, when each is next due, by a Schedule the refresh gives);
//     state.go what of it survives a restart.
//   - families.go: the document families, one row each, and publish, which
//     turns the store's documents into an exposition.Exposition for scrapes.
//   - overview.go: what the landing page shows of the documents, never a
//     secret; shards.go the shard layout's metrics.
//
// How the exposition is rendered, compressed and written is package
// exposition's; package server serves it.
package collector
