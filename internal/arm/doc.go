// Package arm is a small generic Azure Resource Manager client: PUT, GET and DELETE of any
// resource by its ARM id and api-version, with long-running operations polled to the end
// (Azure-AsyncOperation, Location, provisioningState), throttling and transient 5xx retried
// honouring Retry-After (azcore's retry policy), and typed errors.
//
// It exists because several resource types dualpeer deploys (Microsoft.IoTOperations,
// Microsoft.SecretSyncController, custom locations) have no Go SDK module; one generic client
// treats every type alike, as the blueprint's azapi resources do.
package arm
