package fakes

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The service-account and Admin SDK Directory API half of the Google
// fake.

const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// saGrant is a service-account access token: who it acts as (sub) and
// its scopes.
type saGrant struct {
	sub    string
	scopes []string
	expiry time.Time
}

// writeKeyFile makes the service account's key and writes its key file
// as Google's console downloads it.
func (f *Google) writeKeyFile(t testing.TB) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f.saKey, f.saKeyID = key, fmt.Sprintf("%x", sha256.Sum256(der))[:40]
	f.ServiceAccount = "gatehouse-groups@acme-project.iam.gserviceaccount.com"
	doc := map[string]string{
		"type": "service_account", "project_id": "acme-project", "private_key_id": f.saKeyID,
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": f.ServiceAccount, "client_id": "104857600000000000001",
		"auth_uri": f.Issuer + "/o/oauth2/auth", "token_uri": f.APIs.URL + "/token",
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/gatehouse-groups%40acme-project.iam.gserviceaccount.com",
		"universe_domain":             "googleapis.com",
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	f.KeyFile = filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(f.KeyFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serviceAccountToken is the JWT bearer grant (RFC 7523) as Google's
// token endpoint runs it for service accounts.
func (f *Google) serviceAccountToken(w http.ResponseWriter, r *http.Request) {
	if _, _, basic := r.BasicAuth(); basic {
		f.violation(w, r, "client credentials with a JWT bearer grant")
		return
	}
	form, ok := f.form(w, r, []string{"grant_type", "assertion"}, nil)
	if !ok {
		return
	}
	c, why := f.checkAssertion(form.Get("assertion"))
	if why != "" {
		OAuthError(w, http.StatusBadRequest, "invalid_grant", why)
		return
	}
	scopes := strings.Fields(c.Scope)
	if c.Sub != "" {
		f.gmu.Lock()
		_, known := f.users[c.Sub]
		f.gmu.Unlock()
		if !known {
			OAuthError(w, http.StatusBadRequest, "invalid_grant", "Invalid email or User ID")
			return
		}
		if slices.ContainsFunc(scopes, func(s string) bool { return !slices.Contains(f.opts.DelegatedScopes, s) }) {
			OAuthError(w, http.StatusUnauthorized, "unauthorized_client",
				"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
			return
		}
	}
	at := "ya29." + RandomToken()
	f.gmu.Lock()
	f.saGrants[at] = saGrant{sub: c.Sub, scopes: scopes, expiry: time.Now().Add(time.Hour)}
	f.gmu.Unlock()
	f.mu.Lock()
	f.access[at] = "service-account:" + c.Sub
	f.issued = append(f.issued, at)
	f.mu.Unlock()
	WriteJSON(w, http.StatusOK, map[string]any{"access_token": at, "expires_in": 3599, "token_type": "Bearer"})
}

type assertionClaims struct {
	Iss, Scope, Aud, Sub string
	Iat, Exp             int64
}

// checkAssertion verifies a service account's assertion and returns its
// claims, or Google's error description.
func (f *Google) checkAssertion(assertion string) (assertionClaims, string) {
	var c assertionClaims
	jws, err := jose.ParseSignedCompact(assertion, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return c, "Invalid JWT: the assertion is not an RS256 JWS"
	}
	if kid := jws.Signatures[0].Header.KeyID; kid != "" && kid != f.saKeyID {
		return c, "Invalid JWT Signature."
	}
	payload, err := jws.Verify(&f.saKey.PublicKey)
	if err != nil || json.Unmarshal(payload, &c) != nil {
		return c, "Invalid JWT Signature."
	}
	now := time.Now().Unix()
	switch {
	case c.Iss != f.ServiceAccount:
		return c, "Invalid JWT Signature."
	case c.Aud != f.APIs.URL+"/token":
		return c, "Invalid JWT: Failed audience check. The right audience is " + f.APIs.URL + "/token"
	case c.Exp-c.Iat > 3600 || c.Exp <= now || c.Iat > now+300:
		return c, "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	case strings.TrimSpace(c.Scope) == "":
		return c, "Invalid OAuth scope or ID token audience provided."
	}
	return c, ""
}

// googleAPIError writes the JSON error of Google's REST APIs.
func googleAPIError(w http.ResponseWriter, code int, status, reason, msg string) {
	WriteJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status,
		"errors": []map[string]string{{"message": msg, "domain": "global", "reason": reason}}}})
}

var directoryScopes = []string{"https://www.googleapis.com/auth/admin.directory.group.readonly", "https://www.googleapis.com/auth/admin.directory.group"}

// directoryGrant authenticates a Directory API request: a service-account
// token with a group scope, acting as an admin.
func (f *Google) directoryGrant(w http.ResponseWriter, r *http.Request) bool {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.gmu.Lock()
	g, ok := f.saGrants[tok]
	f.gmu.Unlock()
	_, userToken := f.bearerGrant(r)
	switch {
	case userToken:
		googleAPIError(w, http.StatusForbidden, "PERMISSION_DENIED", "insufficientPermissions", "Request had insufficient authentication scopes.")
		return false
	case !ok || !f.AccessTokenValid(tok) || time.Now().After(g.expiry):
		googleAPIError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "authError",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return false
	case !slices.ContainsFunc(g.scopes, func(s string) bool { return slices.Contains(directoryScopes, s) }):
		googleAPIError(w, http.StatusForbidden, "PERMISSION_DENIED", "insufficientPermissions", "Request had insufficient authentication scopes.")
		return false
	case !slices.Contains(f.opts.Admins, g.sub):
		googleAPIError(w, http.StatusForbidden, "PERMISSION_DENIED", "forbidden", "Not Authorized to access this resource/api")
		return false
	}
	return true
}

// listGroups is GET /admin/directory/v1/groups?userKey=… with paging by
// maxResults (at most 200) and pageToken.
func (f *Google) listGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !f.checkParams(w, r, q, []string{"userKey"}, []string{"maxResults", "pageToken", "fields", "prettyPrint", "alt", "quotaUser"}) {
		return
	}
	if !f.directoryGrant(w, r) {
		return
	}
	if status, retry, throttled := f.Throttle.take(); throttled {
		setRetryAfter(w, retry)
		if status == http.StatusTooManyRequests {
			googleAPIError(w, status, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'.")
		} else {
			googleAPIError(w, status, "PERMISSION_DENIED", "userRateLimitExceeded", "User Rate Limit Exceeded")
		}
		return
	}
	size, err := strconv.Atoi(cmp.Or(q.Get("maxResults"), "200"))
	if err != nil || size < 1 || size > 200 {
		googleAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "invalid", "Invalid value for: maxResults")
		return
	}
	offset := 0
	if pt := q.Get("pageToken"); pt != "" {
		b, err := base64.RawURLEncoding.DecodeString(pt)
		n, ok := strings.CutPrefix(string(b), "offset:")
		if offset, _ = strconv.Atoi(n); err != nil || !ok || offset < 0 {
			googleAPIError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "invalid", "Invalid Input: pageToken")
			return
		}
	}
	f.gmu.Lock()
	u, known := f.users[q.Get("userKey")]
	f.gmu.Unlock()
	if !known {
		googleAPIError(w, http.StatusNotFound, "NOT_FOUND", "notFound", "Resource Not Found: userKey")
		return
	}
	f.writeGroups(w, u.Groups, offset, min(size, int(f.MaxResults.Load())))
}

func (f *Google) writeGroups(w http.ResponseWriter, groups []string, offset, size int) {
	doc := map[string]any{"kind": "admin#directory#groups", "etag": `"fake-etag"`}
	end := min(offset+size, len(groups))
	var page []map[string]any
	for _, g := range groups[min(offset, end):end] {
		name, _, _ := strings.Cut(g, "@")
		page = append(page, map[string]any{"kind": "admin#directory#group", "id": fmt.Sprintf("%x", sha256.Sum256([]byte(g)))[:15],
			"etag": `"fake-etag"`, "email": g, "name": name, "directMembersCount": "3", "description": "", "adminCreated": true})
	}
	if page != nil { // Google leaves out empty lists
		doc["groups"] = page
	}
	if end < len(groups) {
		doc["nextPageToken"] = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
	}
	WriteJSON(w, http.StatusOK, doc)
}
