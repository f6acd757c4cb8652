package armfake

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Fixed identities the fake credential signs in as.
const (
	UserObjectID = "00000000-0000-0000-0000-0000000000aa"
	TenantID     = "00000000-0000-0000-0000-0000000000bb"
)

// Credential is a static azcore.TokenCredential whose token is an unsigned JWT carrying the
// oid and tid claims (ARM verifies tokens; the fake and the client only read them).
type Credential struct{}

// GetToken returns the static token.
func (Credential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	enc := base64.RawURLEncoding
	hdr := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]string{"oid": UserObjectID, "tid": TenantID})
	return azcore.AccessToken{Token: hdr + "." + enc.EncodeToString(claims) + ".", ExpiresOn: time.Now().Add(time.Hour)}, nil
}
