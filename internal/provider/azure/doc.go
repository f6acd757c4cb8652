// Package azure deploys a plan to Azure through Azure Resource Manager: it renders the
// request body of every resource in the plan, applies them DAG-parallel (bounded), reads
// each resource before writing it so that a re-apply writes nothing, saves state after
// every resource so an interrupted apply resumes, destroys in reverse order without ever
// deleting a resource group it did not create, and exports the same resources as a
// subscription-scope ARM deployment template.
//
// The package talks to ARM only through the small ARM interface (internal/arm implements
// it; tests use internal/armfake behind the same client).
package azure
