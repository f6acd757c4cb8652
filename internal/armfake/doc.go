// Package armfake is an in-process HTTP server that behaves like Azure Resource Manager
// closely enough to test a deployment engine without an Azure account: PUT answers 201 on
// create and 200 on update, long-running types answer with an Azure-AsyncOperation (or
// Location) URL that needs several polls, provisioningState moves Creating → Succeeded,
// a missing resource is a 404 with ARM's error JSON, a child of a missing parent or a
// resource in a missing resource group is refused as ARM refuses it, references to
// resources that do not exist (or are still provisioning) are rejected, read-only fields are
// filled (id, name, type, provisioningState, principal ids, NIC private IPs assigned as Azure
// does: the first free address is .4), and write-only fields (secret values, protected
// settings) are never returned by GET.
//
// Tests inject faults (409, 429 with Retry-After, 5xx, a failing operation) and read the
// request log: every request with its time, and the high-water mark of concurrent PUTs.
package armfake
