// Package armschema checks ARM request bodies against the official OpenAPI 2.0 ("swagger")
// files of Azure/azure-rest-api-specs, so that tests can prove every body dualpeer sends to
// Azure Resource Manager is one ARM would accept, without an Azure account.
//
// Load reads a folder laid out like the specs repository (specification/...); the PUT body
// schema of a resource type is found through the swagger "paths" of the file whose
// info.version is the api-version. ValidateBody walks the body against that schema:
// $ref (within and across files, relative paths), allOf, required, enum (including
// x-ms-enum), JSON types, numeric and length bounds, and rejects unknown properties and
// properties marked readOnly (which ARM ignores or refuses in a request; sending them is
// always a bug on our side).
//
// Files that were deliberately not copied (see the folder's SOURCES.md) leave some $refs
// unresolvable; such a reference is treated as an opaque object that must carry an "id",
// which is how request bodies reference other resources (an NSG, a route table).
//
// It is a test helper in spirit: it favours clear error paths ("properties.ports[0].tls.mode")
// over speed, and it only knows the parts of Swagger 2.0 that ARM specs use.
package armschema
