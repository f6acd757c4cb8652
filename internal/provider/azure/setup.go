package azure

import (
	"github.com/dualpeer/dualpeer/internal/blueprint"
)

// k3sSetupScript is the K3s + Arc setup (reference §3, k3s-device-setup.sh) that the VM's
// bootstrap reads from Key Vault and runs as root.
func k3sSetupScript(cfg *blueprint.Config, cluster string) string {
	n := cfg.Names(cluster)
	oid := ""
	if cfg.CustomLocationsOID != nil {
		oid = *cfg.CustomLocationsOID
	}
	autoUpgrade := "true"
	if cfg.Environment == "prod" {
		autoUpgrade = "false"
	}
	return `#!/usr/bin/env bash
set -euo pipefail
ARC_RESOURCE_NAME='` + n.ArcCluster + `'
ARC_RESOURCE_GROUP='` + n.ResourceGroup + `'
ARC_LOCATION='` + cfg.Location + `'
DEVICE_USERNAME='` + cfg.ResourcePrefix + `'
CUSTOM_LOCATIONS_OID='` + oid + `'
ARC_AUTO_UPGRADE='` + autoUpgrade + `'

command -v az >/dev/null 2>&1 || curl -fsSL https://aka.ms/InstallAzureCLIDeb | bash
az extension add --upgrade --name connectedk8s --yes
az login --identity --client-id "${CLIENT_ID:?}" --allow-no-subscriptions >/dev/null

sysctl -w fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=524288 fs.file-max=100000
printf 'fs.inotify.max_user_instances=8192\nfs.inotify.max_user_watches=524288\nfs.file-max=100000\n' >/etc/sysctl.d/99-dualpeer.conf

if ! command -v k3s >/dev/null 2>&1; then
  curl -fsSL https://get.k3s.io -o /tmp/k3s-install.sh
  INSTALL_K3S_EXEC=server sh /tmp/k3s-install.sh
fi
mkdir -p "/home/$DEVICE_USERNAME/.kube"
cp /etc/rancher/k3s/k3s.yaml "/home/$DEVICE_USERNAME/.kube/config"
chown -R "$DEVICE_USERNAME" "/home/$DEVICE_USERNAME/.kube" || true
export KUBECONFIG=/etc/rancher/k3s/k3s.yaml

args=(--name "$ARC_RESOURCE_NAME" --resource-group "$ARC_RESOURCE_GROUP" --location "$ARC_LOCATION" --enable-oidc-issuer --enable-workload-identity)
[ "$ARC_AUTO_UPGRADE" = false ] && args+=(--disable-auto-upgrade)
if ! az connectedk8s show -n "$ARC_RESOURCE_NAME" -g "$ARC_RESOURCE_GROUP" >/dev/null 2>&1; then
  az connectedk8s connect "${args[@]}"
fi
features=(--features cluster-connect custom-locations)
[ -n "$CUSTOM_LOCATIONS_OID" ] && features+=(--custom-locations-oid "$CUSTOM_LOCATIONS_OID")
az connectedk8s enable-features -n "$ARC_RESOURCE_NAME" -g "$ARC_RESOURCE_GROUP" "${features[@]}"

issuer=$(az connectedk8s show -n "$ARC_RESOURCE_NAME" -g "$ARC_RESOURCE_GROUP" --query oidcIssuerProfile.issuerUrl -o tsv)
if ! grep -q service-account-issuer /etc/rancher/k3s/config.yaml 2>/dev/null; then
  printf 'kube-apiserver-arg:\n  - service-account-issuer=%s\n  - service-account-max-token-expiration=24h\n' "$issuer" >>/etc/rancher/k3s/config.yaml
  systemctl restart k3s
fi
for i in $(seq 1 180); do
  kubectl get nodes >/dev/null 2>&1 && break
  sleep 10
done
`
}
