// Package pki makes, checks and stores the TLS material of the MQTT link between the two
// clusters: the server chain (root → intermediate → leaf whose IP SAN is Cluster A's VM
// private IP) and the client chain (root → intermediate → client leaf).
//
// The spec has three mutually exclusive certificate modes:
//
//   - ModeStep (should_create_certificates=true, use_terraform_certificates=false, the default):
//     exactly what the step CLI's certs.sh made, built with smallstep's own x509util templates
//     (DefaultRootTemplate, DefaultIntermediateTemplate, DefaultLeafTemplate) so no step binary is
//     needed. EC P-256 keys; root and intermediate 87600h (step's 10-year CA default), path length
//     1 and 0; leaves 2400h (`--not-after 2400h`) with serverAuth+clientAuth; the server leaf's only
//     SAN is the IP, the client leaf's SAN is its subject "client"; bundle = leaf + intermediate.
//   - ModeTerraform (use_terraform_certificates=true): the terraform-certificate-generation module's
//     profile. RSA 4096 CAs, RSA 2048 leaves, O="Azure IoT Operations", CAs 87600h/43800h, leaves
//     8760h, server SANs DNS mqtts-endpoint, localhost and IP <server ip>, 127.0.0.1; bundle = leaf +
//     intermediate + root. The RSA keys are generated in parallel: they are the slow part.
//     One deliberate hardening over the provider defaults: the CAs carry path-length limits (root 1,
//     intermediate 0) and every certificate carries a subject key id.
//   - ModeKeyVault (should_create_certificates=false): nothing is generated. Import (a directory) and
//     FromExternal (the external_certificates variable) validate a user's own chains with Verify and
//     return the same Material, so the vault and the clusters are fed the same way.
//
// Generate, Rotate, Import and FromExternal all return a *Material. Material.Secrets gives the eight
// Key Vault secrets (SecretServerRootCA … SecretClientLeafKey); ServerClusterSecrets and
// ClientClusterSecrets say which of them each cluster receives (A = server gets the server leaf
// bundle + key and the client root; B = client gets the client leaf bundle + key + intermediate and
// the server root). WriteDir/LoadDir store the material in a directory (file names in store.go):
// keys 0600, certificates 0644, every file written atomically (temp file + rename).
//
// Verify explains a bad chain as a list of Problems, each with a Kind (wrong IP SAN, chain does not
// reach the root, expired, missing EKU, key mismatch, bundle out of order, …) and a message that
// says what to do. Inspect decodes a PEM file for humans and JSON.
//
// Separately, NewClusterCA makes each cluster's own "AIO CA" (root "AIO Root CA", intermediate "AIO
// Intermediate CA", EC P-256) that cert-manager would use for the broker's default 18883 listener
// (TLS Automatic); ClusterCA.IssueServer issues that listener's certificate.
//
// Private keys never appear in errors, logs or Inspect output.
package pki
