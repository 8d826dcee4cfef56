package providers

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"
)

// googleGroupScope is the Directory API scope the service account needs.
const googleGroupScope = "https://www.googleapis.com/auth/admin.directory.group.readonly"

// maxGroupsCache bounds how many users' groups are cached at once.
const maxGroupsCache = 10000

// errNoServiceAccount is returned for a key file that is not a service
// account's.
var errNoServiceAccount = errors.New("not a service account key (type must be service_account)")

// ServiceAccountKey is the part of a Google service account's JSON key
// Gatehouse uses.
type ServiceAccountKey struct {
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
}

// ParseServiceAccountKey reads a service account's JSON key (as the Google
// Cloud console downloads it) and checks that it can sign.
func ParseServiceAccountKey(b []byte) (ServiceAccountKey, error) {
	var k struct {
		Type string `json:"type"`
		ServiceAccountKey
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return ServiceAccountKey{}, errors.New("not a JSON key file")
	}
	if k.Type != "service_account" {
		return ServiceAccountKey{}, errNoServiceAccount
	}
	if k.ClientEmail == "" || k.TokenURI == "" {
		return ServiceAccountKey{}, errors.New("client_email or token_uri is missing")
	}
	if err := checkEndpoint(k.TokenURI); err != nil {
		return ServiceAccountKey{}, fmt.Errorf("token_uri: %w", err)
	}
	block, _ := pem.Decode([]byte(k.PrivateKey))
	if block == nil {
		return ServiceAccountKey{}, errors.New("private_key is not PEM")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if _, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 != nil {
			return ServiceAccountKey{}, errors.New("private_key is not an RSA private key")
		}
	}
	return k.ServiceAccountKey, nil
}

// googleDirectory reads Workspace groups with a service account acting as
// an administrator (domain-wide delegation), caching them per user.
type googleDirectory struct {
	jwt  *jwt.Config
	api  apiClient
	ttl  time.Duration
	now  func() time.Time
	mu   sync.Mutex
	tok  *oauth2.Token // the service account's, reused until it expires
	seen map[string]cachedGroups
}

type cachedGroups struct {
	groups []string
	until  time.Time
}

func newGoogleDirectory(c GoogleConfig, common Common) (*googleDirectory, error) {
	if len(c.ServiceAccountKey) == 0 || c.AdminEmail == "" {
		return nil, errors.New("google: the Directory API needs both service_account_key_file and admin_email")
	}
	key, err := ParseServiceAccountKey(c.ServiceAccountKey)
	if err != nil {
		return nil, fmt.Errorf("google: service account key: %w", err)
	}
	api, err := newAPIClient("Google", cmp.Or(c.DirectoryURL, GoogleDirectoryURL), common.HTTPClient, common.Now,
		http.Header{"Accept": {"application/json"}, "User-Agent": {"Gatehouse"}})
	if err != nil {
		return nil, err
	}
	return &googleDirectory{
		jwt: &jwt.Config{Email: key.ClientEmail, PrivateKey: []byte(key.PrivateKey), PrivateKeyID: key.PrivateKeyID,
			Subject: c.AdminEmail, Scopes: []string{googleGroupScope}, TokenURL: key.TokenURI},
		api: api, ttl: cmp.Or(c.GroupsCacheFor, DefaultGoogleGroupsCacheFor), now: common.Now, seen: map[string]cachedGroups{},
	}, nil
}

// groups returns the email addresses (lower case) of the groups user is a
// direct member of.
func (d *googleDirectory) groups(ctx context.Context, user string) ([]string, error) {
	user = strings.ToLower(user)
	now := d.now()
	d.mu.Lock()
	c, ok := d.seen[user]
	d.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.groups, nil
	}
	token, err := d.token(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := d.list(ctx, token, user)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.seen) >= maxGroupsCache {
		for k, v := range d.seen {
			if !now.Before(v.until) {
				delete(d.seen, k)
			}
		}
		if len(d.seen) >= maxGroupsCache {
			clear(d.seen)
		}
	}
	d.seen[user] = cachedGroups{groups: groups, until: now.Add(d.ttl)}
	return groups, nil
}

// token is the service account's access token: golang.org/x/oauth2/jwt
// signs the assertion and runs the JWT bearer grant; the token is reused
// until it expires.
func (d *googleDirectory) token(ctx context.Context) (string, error) {
	d.mu.Lock()
	cached := d.tok
	d.mu.Unlock()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, d.api.http)
	tok, err := oauth2.ReuseTokenSource(cached, d.jwt.TokenSource(ctx)).Token()
	if err != nil {
		return "", directoryTokenError(err)
	}
	d.mu.Lock()
	d.tok = tok
	d.mu.Unlock()
	return tok.AccessToken, nil
}

// directoryTokenError says why the service account got no token; the
// fix is the administrator's.
func directoryTokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		cause := fmt.Errorf("google service account token: HTTP %d (%s: %s)", re.Response.StatusCode, re.ErrorCode, truncate(re.ErrorDescription, 200))
		if re.Response.StatusCode >= 500 {
			return unavailable(cause)
		}
		return &Error{Code: CodeProviderError, Message: "Gatehouse could not read your groups from Google Workspace. Please tell the administrator.",
			Err: fmt.Errorf("%w (check the key, the domain-wide delegation of %s and admin_email)", cause, googleGroupScope)}
	}
	return unavailable(fmt.Errorf("google service account token: %w", unwrapURLError(err)))
}

// list reads every page of GET /admin/directory/v1/groups?userKey=user.
func (d *googleDirectory) list(ctx context.Context, token, user string) ([]string, error) {
	var out []string
	pageToken := ""
	for page := 0; page == 0 || pageToken != ""; page++ {
		if page == maxAPIPages {
			return nil, badResponse(fmt.Errorf("google directory: more than %d pages of groups", maxAPIPages))
		}
		q := url.Values{"userKey": {user}, "maxResults": {"200"}}
		if pageToken != "" {
			q.Set("pageToken", pageToken)
		}
		r, err := d.api.get(ctx, d.api.url("/admin/directory/v1/groups?"+q.Encode()), token)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Groups []struct {
				Email string `json:"email"`
			} `json:"groups"`
			NextPageToken string `json:"nextPageToken"`
			Error         struct {
				Errors []struct {
					Reason string `json:"reason"`
				} `json:"errors"`
			} `json:"error"`
		}
		_ = r.decode(&doc)
		if r.status != http.StatusOK {
			return nil, d.failed(r, doc.Error.Errors)
		}
		for _, g := range doc.Groups {
			if g.Email != "" && checkPrintable(g.Email) == nil {
				out = append(out, strings.ToLower(g.Email))
			}
		}
		pageToken = doc.NextPageToken
	}
	return out, nil
}

// failed classifies a Directory API error: Google answers some quota
// errors with 403 and a rate-limit reason.
func (d *googleDirectory) failed(r apiResponse, errs []struct {
	Reason string `json:"reason"`
}) error {
	for _, e := range errs {
		switch e.Reason {
		case "userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded":
			return rateLimited("Google", r.retryAfter(d.now()), fmt.Errorf("google directory: HTTP %d %s", r.status, e.Reason))
		}
	}
	e := d.api.unexpected("GET /admin/directory/v1/groups", r)
	e.Message = "Gatehouse could not read your groups from Google Workspace. Please tell the administrator."
	return e
}
