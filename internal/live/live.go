// Package live turns the local deployment's status (agents, network, certificates) into the
// views that show it: graph.Live for `dualpeer graph --live` and dashboard snapshots for
// `dualpeer dashboard`. It only reads: the agents over their unix sockets, the network through
// netlab.Inspect, the certificates from the clusters' secrets.
package live

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dualpeer/dualpeer/internal/aio"
	"github.com/dualpeer/dualpeer/internal/dashboard"
	"github.com/dualpeer/dualpeer/internal/dataflow"
	"github.com/dualpeer/dualpeer/internal/graph"
	"github.com/dualpeer/dualpeer/internal/provider/local"
)

func up(ok bool) graph.Status {
	if ok {
		return graph.StatusUp
	}
	return graph.StatusDown
}

func n(v any) string { return fmt.Sprint(v) }

// Graph maps the status onto the topology picture's elements.
func Graph(st *local.Status) graph.Live {
	var l graph.Live
	agentState := func(c string) *graph.State {
		a := st.Agents[c]
		s := &graph.State{Status: up(a.Ready)}
		switch {
		case a.Ready:
			s.Detail = "agent ready"
		case len(a.PIDs) == 0:
			s.Detail = "agent not running"
		default:
			s.Detail = a.Error
		}
		return s
	}
	l.AgentA, l.AgentB = agentState("a"), agentState("b")

	pr := st.Deployment.Topology.Peering
	peer := &graph.State{Status: up(st.Network != nil && st.Network.Ready() && pr.AllowVirtualNetworkAccess)}
	switch {
	case st.Network == nil:
		peer.Detail = "network unknown: " + st.NetworkErr
	case !st.Network.Ready():
		peer.Detail = strings.Join(st.Network.Problems, "; ")
	case !pr.AllowVirtualNetworkAccess:
		peer.Detail = "blocks traffic (allow_virtual_network_access = false)"
	default:
		peer.Detail = "Connected"
	}
	l.Peering = peer

	if a := st.Agents["a"].Status; a != nil && a.Broker != nil {
		for _, ls := range a.Broker.Listeners {
			s := &graph.State{Status: graph.StatusUp, Counters: []graph.Counter{{Name: "connections", Value: n(ls.Connections)}}}
			switch {
			case strings.HasPrefix(ls.Name, aio.ServerListenerName+":"):
				s.Counters = append(s.Counters, graph.Counter{Name: "received", Value: n(a.Broker.Received)})
				l.Listener = s
			case strings.HasPrefix(ls.Name, aio.AnonymousListener+":"):
				l.AnonListener = s
			}
		}
	} else {
		l.Listener = &graph.State{Status: graph.StatusDown, Detail: "Cluster A's agent does not answer"}
	}
	if b := st.Agents["b"].Status; b != nil {
		for _, d := range b.Dataflows {
			if d.Name != aio.LinkDataflowName {
				continue
			}
			l.Dataflow = &graph.State{Status: up(d.SourceConnected && d.DestinationConnected), Detail: d.LastError, Counters: []graph.Counter{
				{Name: "in", Value: n(d.MessagesIn)}, {Name: "out", Value: n(d.MessagesOut)}, {Name: "in flight", Value: n(d.QueueDepth)},
			}}
			ep := &graph.State{Status: up(d.DestinationConnected), Detail: "disconnected"}
			if d.DestinationConnected {
				ep.Detail = "connected to " + d.Destination
			}
			l.Endpoint = ep
		}
	} else {
		l.Dataflow = &graph.State{Status: graph.StatusDown, Detail: "Cluster B's agent does not answer"}
	}
	return l
}

// Source serves dashboard snapshots of a local deployment.
type Source struct {
	Provider *local.Provider
}

var _ dashboard.Source = Source{}

// Snapshot reads the deployment's live state.
func (s Source) Snapshot(ctx context.Context) (*dashboard.Snapshot, error) {
	st, err := s.Provider.Status(ctx)
	if err != nil {
		return nil, err
	}
	d := st.Deployment
	m := graph.FromConfig(d.Config)
	m.ApplyLive(Graph(st))
	snap := &dashboard.Snapshot{Deployment: d.ID, Target: "local", Topology: &m}
	for _, c := range []string{"a", "b"} {
		a := st.Agents[c]
		role := "MQTT server"
		if c == "b" {
			role = "MQTT client (dataflow)"
		}
		ag := dashboard.Agent{Cluster: c, Name: d.Config.Names(c).VM, Role: role, Healthy: a.Ready, Status: "ready"}
		switch {
		case len(a.PIDs) == 0:
			ag.Status, ag.Detail = "not running", "no agent process; run `dualpeer up`"
		case !a.Ready:
			ag.Status, ag.Detail = "not ready", a.Error
		}
		if a.Status != nil {
			if up, err := time.ParseDuration(a.Status.Uptime); err == nil {
				ag.StartedAt = time.Now().Add(-up)
			}
			if b := a.Status.Broker; b != nil {
				snap.Queues = append(snap.Queues, dashboard.Queue{Cluster: c, Name: "broker queued QoS 1", Depth: b.QueueDepth})
			}
			for _, f := range a.Status.Dataflows {
				snap.Dataflows = append(snap.Dataflows, dataflowRow(c, f))
				snap.Queues = append(snap.Queues, dashboard.Queue{Cluster: c, Name: "dataflow " + f.Name + " in flight", Depth: f.QueueDepth})
			}
		}
		snap.Agents = append(snap.Agents, ag)
	}
	for _, ci := range s.Provider.Certificates(d) {
		snap.Certificates = append(snap.Certificates, dashboard.Certificate{Name: ci.Name, Cluster: ci.Cluster, Subject: ci.Subject, NotAfter: ci.NotAfter})
	}
	pr := d.Topology.Peering
	state := "Connected"
	if st.Network == nil || !st.Network.Ready() {
		state = "Disconnected"
	}
	for _, p := range []struct{ name, from, to string }{
		{d.Config.Names("a").Peering, d.Config.Names("a").VNet, d.Config.Names("b").VNet},
		{d.Config.Names("b").Peering, d.Config.Names("b").VNet, d.Config.Names("a").VNet},
	} {
		snap.Peerings = append(snap.Peerings, dashboard.Peering{Name: p.name, From: p.from, To: p.to, State: state,
			AllowVirtualNetworkAccess: pr.AllowVirtualNetworkAccess, AllowForwardedTraffic: pr.AllowForwardedTraffic,
			AllowGatewayTransit: pr.AllowGatewayTransit, UseRemoteGateways: pr.UseRemoteGateways})
	}
	return snap, nil
}

func dataflowRow(cluster string, f dataflow.Status) dashboard.Dataflow {
	return dashboard.Dataflow{Cluster: cluster, Name: f.Name, Source: strings.Join(f.SourceTopics, ","), Destination: f.DestinationTopic,
		MessagesIn: f.MessagesIn, MessagesOut: f.MessagesOut, Errors: f.Dropped, Connected: f.DestinationConnected}
}
