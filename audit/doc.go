// Package audit answers "what happened to this article, and how is the queue doing":
// the per-article outcome log written by the send pass (one line per final answer or
// deferral), the reader trace uses on it, each site's running totals across passes, a
// measure of the queue in articles, bytes and age, and the Prometheus text format for
// monitoring.
package audit
