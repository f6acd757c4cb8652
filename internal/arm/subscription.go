package arm

import (
	"errors"
	"strings"
)

// SubscriptionEnvVars are the environment variables consulted, in order, when no
// --subscription flag is given. ARM_SUBSCRIPTION_ID is what the blueprint's README tells
// Terraform users to export; AZURE_SUBSCRIPTION_ID is the Azure SDK convention.
var subscriptionEnvVars = []string{"ARM_SUBSCRIPTION_ID", "AZURE_SUBSCRIPTION_ID"}

// Subscription picks the subscription id: the flag value first, then ARM_SUBSCRIPTION_ID,
// then AZURE_SUBSCRIPTION_ID. getenv is os.Getenv in production (injected for tests).
func Subscription(flag string, getenv func(string) string) (string, error) {
	if s := strings.TrimSpace(flag); s != "" {
		return s, nil
	}
	for _, k := range subscriptionEnvVars {
		if s := strings.TrimSpace(getenv(k)); s != "" {
			return s, nil
		}
	}
	return "", errors.New("no Azure subscription selected: pass --subscription <id>, or export ARM_SUBSCRIPTION_ID or AZURE_SUBSCRIPTION_ID (see `az account show --query id -o tsv`)")
}
