package collector

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterShardMetrics exports the shard layout, as kube-state-metrics does,
// so that alerts can find a missing shard or shards that disagree.
func RegisterShardMetrics(reg prometheus.Registerer, shard, total int) {
	ordinal := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "assuresign_shard_ordinal",
		Help: "This exporter's shard (--shard), also as the shard label.",
	}, []string{"shard"})
	ordinal.WithLabelValues(strconv.Itoa(shard)).Set(float64(shard))
	totalShards := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "assuresign_total_shards",
		Help: "Number of shards the watch list is split into (--total-shards).",
	})
	totalShards.Set(float64(total))
	reg.MustRegister(ordinal, totalShards)
}
