// Package plan turns a validated blueprint.Config into a Plan: a DAG of every resource both
// clusters need, each with its ARM id, type, API version, name, cluster and dependencies. The
// plan is plain data; providers (local, azure) only execute it.
package plan
