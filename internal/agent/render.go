package agent

import (
	"fmt"
	"io"
)

// Render writes the status for humans (dualpeer status).
func (s *Status) Render(w io.Writer, indent string) {
	if s.LastError != "" {
		fmt.Fprintf(w, "%sproblem: %s\n", indent, s.LastError)
	}
	if b := s.Broker; b != nil {
		for _, l := range b.Listeners {
			tls := "plain"
			if l.TLS {
				tls = "TLS"
			}
			fmt.Fprintf(w, "%slistener %-28s %-22s %-5s auth=%-9s connections=%d\n", indent, l.Name, l.Address, tls, l.Auth, l.Connections)
		}
		fmt.Fprintf(w, "%sbroker: sessions=%d queued=%d received=%d sent=%d dropped=%d\n", indent, b.Sessions, b.QueueDepth, b.Received, b.Sent, b.Dropped)
	}
	for _, d := range s.Dataflows {
		conn := func(up bool) string {
			if up {
				return "connected"
			}
			return "DISCONNECTED"
		}
		fmt.Fprintf(w, "%sdataflow %s: %v -> %s (source %s, destination %s) in=%d out=%d dropped=%d retries=%d in-flight=%d\n",
			indent, d.Name, d.SourceTopics, d.DestinationTopic, conn(d.SourceConnected), conn(d.DestinationConnected),
			d.MessagesIn, d.MessagesOut, d.Dropped, d.Retries, d.QueueDepth)
		if d.LastError != "" {
			fmt.Fprintf(w, "%s  last error: %s\n", indent, d.LastError)
		}
	}
}
