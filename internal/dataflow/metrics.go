package dataflow

import "github.com/prometheus/client_golang/prometheus"

// metrics are shared by all dataflows of an engine, labelled by dataflow name.
type metrics struct {
	in, out, retries *prometheus.CounterVec
	dropped          *prometheus.CounterVec
	inflight         *prometheus.GaugeVec
	connected        *prometheus.GaugeVec
	latency          *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{
		in: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dualpeer_dataflow_messages_in_total", Help: "Messages received from the source (redeliveries included).",
		}, []string{"dataflow"}),
		out: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dualpeer_dataflow_messages_out_total", Help: "Messages acknowledged by the destination.",
		}, []string{"dataflow"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dualpeer_dataflow_publish_retries_total", Help: "Destination publishes attempted again (each may cause a duplicate).",
		}, []string{"dataflow"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dualpeer_dataflow_messages_dropped_total", Help: "Messages not forwarded: filtered, rejected by the destination, or QoS 0 overflow.",
		}, []string{"dataflow", "reason"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dualpeer_dataflow_queue_depth", Help: "Source messages held by the engine, not yet acknowledged by the destination.",
		}, []string{"dataflow"}),
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dualpeer_dataflow_connected", Help: "1 when the dataflow's MQTT connection is up.",
		}, []string{"dataflow", "side"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dualpeer_dataflow_latency_seconds",
			Help:    "From receipt at the source to the destination's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms … ~16 s
		}, []string{"dataflow"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.in, m.out, m.retries, m.dropped, m.inflight, m.connected, m.latency}
}

// forget removes a deleted dataflow's series.
func (m *metrics) forget(name string) {
	for _, v := range []*prometheus.MetricVec{m.in.MetricVec, m.out.MetricVec, m.retries.MetricVec, m.dropped.MetricVec, m.inflight.MetricVec, m.connected.MetricVec, m.latency.MetricVec} {
		v.DeletePartialMatch(prometheus.Labels{"dataflow": name})
	}
}
