// Package blueprint is the typed configuration of the Dual Peered Single Node Cluster blueprint:
// every variable of the reference Terraform blueprint (same names, types and defaults), loading
// from tfvars / -var as Terraform does, validation that reports every problem at once, and the
// naming convention. Nothing here touches the host or Azure.
package blueprint
