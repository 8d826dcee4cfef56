package providers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// GitHub's public service: the web flow on GitHubURL, the REST API on
// GitHubAPIURL. GitHub Enterprise Server serves both from its own URL,
// the API under /api/v3.
const (
	GitHubURL    = "https://github.com"
	GitHubAPIURL = "https://api.github.com"
)

// DefaultGitHubValidateEvery is how often a GitHub session's memberships
// are re-checked when GitHubConfig.ValidateEvery is not set.
const DefaultGitHubValidateEvery = 10 * time.Minute

// GitHubConfig configures the GitHub preset.
type GitHubConfig struct {
	// Common: ID defaults to "github", DisplayName to "GitHub". ClientID
	// and ClientSecret of the OAuth app (or GitHub App) are required.
	// Scopes default to read:user and user:email; read:org is added when
	// AllowedOrganizations or AllowedTeams are set. UserPrefix defaults to
	// none: logins are unique on one server. AllowUnverifiedEmail keeps
	// the primary email when GitHub has not verified it.
	Common
	// BaseURL is the server's root: GitHubURL (default), or a GitHub
	// Enterprise Server's URL, whose REST API is BaseURL + "/api/v3".
	BaseURL string
	// APIURL overrides the REST API's root.
	APIURL string
	// PKCE is S256 (default) or off.
	PKCE PKCEMethod
	// AuthParams are extra authorize parameters (GitHub's allow_signup,
	// prompt=select_account, login).
	AuthParams map[string]string
	// AllowedOrganizations (organisation logins), AllowedTeams
	// ("org/team-slug") and AllowedRepositories ("owner/repo", optionally
	// ":permission") restrict who may sign in: a user passes by matching
	// any entry of any of them. They are checked at login and every
	// ValidateEvery. Names are compared case-insensitively, as GitHub
	// treats them.
	AllowedOrganizations, AllowedTeams, AllowedRepositories []string
	// ValidateEvery is how often a session's token and memberships are
	// re-checked (GitHub OAuth app tokens never expire); default
	// DefaultGitHubValidateEvery.
	ValidateEvery time.Duration
}

// GitHub is the GitHub provider: the generic OAuth2 provider with GitHub's
// API for the identity (login, primary verified email, organisation and
// team memberships as groups) and its organisation, team and repository
// rules, re-checked periodically. It is safe for concurrent use.
type GitHub struct {
	*OAuth2
	api   githubAPI
	rules githubRules
	every time.Duration
	// groups: the scopes let the token list organisations and teams.
	groups bool
}

var (
	_ Provider  = (*GitHub)(nil)
	_ Validator = (*GitHub)(nil)
)

// githubOrgScopes are the OAuth scopes with which a token may list the
// user's organisations and teams.
var githubOrgScopes = []string{"read:org", "write:org", "admin:org", "user", "repo"}

// NewGitHub returns the GitHub provider.
func NewGitHub(c GitHubConfig) (*GitHub, error) {
	common := c.Common
	common.ID = cmp.Or(common.ID, "github")
	common.DisplayName = cmp.Or(common.DisplayName, "GitHub")
	common.UserPrefix = cmp.Or(common.UserPrefix, "-")
	rules, err := parseGitHubRules(c)
	if err != nil {
		return nil, fmt.Errorf("provider %q: %w", common.ID, err)
	}
	common.Scopes = slices.Clone(defaultScopes(common.Scopes, "read:user", "user:email"))
	if (len(rules.orgs) > 0 || len(rules.teams) > 0) && !slices.ContainsFunc(common.Scopes, isGitHubOrgScope) {
		common.Scopes = append(common.Scopes, "read:org")
	}
	base := strings.TrimRight(cmp.Or(c.BaseURL, GitHubURL), "/")
	if err := checkEndpoint(base); err != nil {
		return nil, fmt.Errorf("provider %q: base_url: %w", common.ID, err)
	}
	o, err := NewOAuth2(OAuth2Config{
		Common:      common,
		Type:        "github",
		AuthURL:     base + "/login/oauth/authorize",
		TokenURL:    base + "/login/oauth/access_token",
		UserinfoURL: cmp.Or(c.APIURL, githubAPIURL(base)) + "/user",
		ClientAuth:  ClientAuthBody, // GitHub refuses HTTP Basic here
		PKCE:        cmp.Or(c.PKCE, PKCES256),
		AuthParams:  c.AuthParams,
		Claims:      ClaimMapping{Subject: "id", Username: "login", Name: "name", Picture: "avatar_url"},
	})
	if err != nil {
		return nil, err
	}
	if o.c.PKCE == PKCEPlain {
		return nil, fmt.Errorf("provider %q: pkce: GitHub supports S256 only", o.c.ID)
	}
	api, err := newGitHubAPI(cmp.Or(c.APIURL, githubAPIURL(base)), o.c.Common)
	if err != nil {
		return nil, fmt.Errorf("provider %q: %w", o.c.ID, err)
	}
	g := &GitHub{OAuth2: o, api: api, rules: rules, every: cmp.Or(c.ValidateEvery, DefaultGitHubValidateEvery),
		groups: slices.ContainsFunc(o.c.Scopes, isGitHubOrgScope)}
	if len(rules.repos) > 0 && !slices.Contains(o.c.Scopes, "repo") {
		o.c.Logger.Info("allowed_repositories can only see private repositories with the repo scope; add it to scopes if any is private", "provider", o.c.ID)
	}
	o.fetchUserinfo = api.user
	o.identityHook = g.completeIdentity
	return g, nil
}

func isGitHubOrgScope(s string) bool { return slices.Contains(githubOrgScopes, s) }

// githubAPIURL is the REST API's root for a server root.
func githubAPIURL(base string) string {
	if u, err := url.Parse(base); err == nil && strings.EqualFold(u.Host, "github.com") && strings.Trim(u.Path, "/") == "" {
		return GitHubAPIURL
	}
	return base + "/api/v3"
}

// Refresh implements Provider. A GitHub App's expiring token is renewed
// with its refresh token. An OAuth app's token never expires and has no
// refresh token: its identity is read again instead (memberships and
// rules included), so a periodic refresh (cookie_refresh) updates the
// groups; a refused account ends the session.
func (g *GitHub) Refresh(ctx context.Context, gr Grant) (Grant, error) {
	if gr.Tokens.RefreshToken != "" || !gr.Tokens.Expiry.IsZero() || gr.Tokens.AccessToken == "" {
		return g.OAuth2.Refresh(ctx, gr)
	}
	id, err := g.identity(ctx, gr.Tokens.AccessToken)
	switch {
	case errors.Is(err, ErrUnauthorized):
		return Grant{}, fmt.Errorf("%w: %w", ErrInvalidGrant, err)
	case err != nil:
		return Grant{}, err
	case id.Subject != gr.Identity.Subject:
		return Grant{}, fmt.Errorf("%s: token now belongs to another account: %w", g.c.ID, ErrInvalidGrant)
	}
	return Grant{Identity: id, Tokens: gr.Tokens}, nil
}

// ValidateEvery implements Validator.
func (g *GitHub) ValidateEvery() time.Duration { return g.every }

// Validate implements Validator: the identity is read again with the
// token. A revoked token, another account, an account the rules now
// refuse, or one that lost a group it had at login wraps ErrInvalidGrant
// (the session ends; signing in again picks up the new memberships). A
// rate limit or an unreachable GitHub is transient.
func (g *GitHub) Validate(ctx context.Context, gr Grant) error {
	id, err := g.identity(ctx, gr.Tokens.AccessToken)
	switch {
	case errors.Is(err, ErrUnauthorized):
		return fmt.Errorf("%w: %w", ErrInvalidGrant, err)
	case err != nil:
		return err
	case id.Subject != gr.Identity.Subject:
		return fmt.Errorf("%s: token now belongs to another account: %w", g.c.ID, ErrInvalidGrant)
	}
	for _, group := range gr.Identity.Groups {
		if !slices.Contains(id.Groups, group) {
			return fmt.Errorf("%s: user %s is no longer in %q: %w", g.c.ID, id.User, group, ErrInvalidGrant)
		}
	}
	return nil
}

// completeIdentity is the OAuth2 identity hook: X-Forwarded-User is the
// login, the email the primary verified one, groups the memberships, and
// the rules are applied.
func (g *GitHub) completeIdentity(ctx context.Context, doc map[string]any, token string, id *Identity) error {
	login, _ := claimString(doc, "login")
	if login == "" || checkPrintable(login) != nil || strings.ContainsAny(login, " /") {
		return badResponse(errors.New("github /user: no usable login"))
	}
	id.User = g.c.userPrefix() + strings.ToLower(login)
	id.Extra = map[string]string{"login": login}
	email, verified, err := g.api.primaryEmail(ctx, token)
	switch {
	case errors.Is(err, errGitHubNoAccess):
		g.c.Logger.DebugContext(ctx, "cannot list emails (user:email not granted)", "provider", g.c.ID, "user", id.User)
	case err != nil:
		return err
	case email == "":
		id.Email, id.EmailVerified = "", false
	case verified || g.c.AllowUnverifiedEmail:
		id.Email, id.EmailVerified = email, verified
	default:
		id.Email, id.EmailVerified = "", false
	}
	var m githubMemberships
	if g.groups || len(g.rules.orgs) > 0 || len(g.rules.teams) > 0 {
		if m, err = g.api.memberships(ctx, token); err != nil && !errors.Is(err, errGitHubNoAccess) {
			return err
		}
		if err != nil && (len(g.rules.orgs) > 0 || len(g.rules.teams) > 0) {
			return notAllowed("Gatehouse needs to see your GitHub organisation memberships to let you in. Please sign in again and allow access to your organisations (read:org).", err)
		}
		id.Groups = m.groups()
	}
	return g.rules.check(ctx, g.api, token, id.User, m)
}

// githubRules are the organisation, team and repository restrictions.
type githubRules struct {
	orgs  []string // lower case
	teams []string // "org/team-slug", lower case
	repos []GitHubRepository
}

// githubNamePattern is what GitHub allows in organisation, user, team
// and repository names (a superset: GitHub Enterprise allows a little more).
var githubNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ParseGitHubOrganization checks an organisation login and returns it in
// lower case.
func ParseGitHubOrganization(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !githubNamePattern.MatchString(s) {
		return "", fmt.Errorf("%q is not an organisation login (letters, digits and '-')", s)
	}
	return strings.ToLower(s), nil
}

// ParseGitHubTeam checks an "org/team-slug" entry and returns it in lower
// case.
func ParseGitHubTeam(s string) (string, error) {
	org, slug, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || !githubNamePattern.MatchString(org) || !githubNamePattern.MatchString(slug) {
		return "", fmt.Errorf("%q is not org/team-slug (e.g. acme/platform; the slug is the team's name in its URL)", s)
	}
	return strings.ToLower(org + "/" + slug), nil
}

// GitHubRepository is an allowed_repositories entry.
type GitHubRepository struct {
	// Owner and Name in lower case.
	Owner, Name string
	// Permission the user must have: pull, triage, push, maintain or
	// admin; "" means push, or pull on a repository that is not public
	// (what a collaborator has).
	Permission string
}

// String renders the entry as it is written.
func (r GitHubRepository) String() string {
	if r.Permission == "" {
		return r.Owner + "/" + r.Name
	}
	return r.Owner + "/" + r.Name + ":" + r.Permission
}

// githubPermissions are the repository permissions, weakest first, with
// the role names GitHub also uses for them.
var githubPermissions = map[string]string{"pull": "pull", "read": "pull", "triage": "triage", "push": "push", "write": "push", "maintain": "maintain", "admin": "admin"}

// ParseGitHubRepository reads "owner/repo" or "owner/repo:permission".
func ParseGitHubRepository(s string) (GitHubRepository, error) {
	full, perm, hasPerm := strings.Cut(strings.TrimSpace(s), ":")
	owner, name, ok := strings.Cut(full, "/")
	if !ok || !githubNamePattern.MatchString(owner) || !githubNamePattern.MatchString(name) {
		return GitHubRepository{}, fmt.Errorf("%q is not owner/repo (e.g. acme/gateway, or acme/gateway:admin)", s)
	}
	r := GitHubRepository{Owner: strings.ToLower(owner), Name: strings.ToLower(name)}
	if hasPerm {
		if r.Permission = githubPermissions[strings.ToLower(perm)]; r.Permission == "" {
			return GitHubRepository{}, fmt.Errorf("%q: permission %q is not pull, triage, push, maintain or admin", s, perm)
		}
	}
	return r, nil
}

func parseGitHubRules(c GitHubConfig) (githubRules, error) {
	var r githubRules
	var errs []error
	for _, s := range c.AllowedOrganizations {
		org, err := ParseGitHubOrganization(s)
		errs = append(errs, err)
		r.orgs = append(r.orgs, org)
	}
	for _, s := range c.AllowedTeams {
		team, err := ParseGitHubTeam(s)
		errs = append(errs, err)
		r.teams = append(r.teams, team)
	}
	for _, s := range c.AllowedRepositories {
		repo, err := ParseGitHubRepository(s)
		errs = append(errs, err)
		r.repos = append(r.repos, repo)
	}
	return r, errors.Join(errs...)
}

// check admits the user when a rule matches (or there are none): a
// membership first, then each repository through the API.
func (r githubRules) check(ctx context.Context, api githubAPI, token, user string, m githubMemberships) error {
	if len(r.orgs) == 0 && len(r.teams) == 0 && len(r.repos) == 0 {
		return nil
	}
	if slices.ContainsFunc(r.orgs, func(o string) bool { return slices.Contains(m.orgs, o) }) ||
		slices.ContainsFunc(r.teams, func(t string) bool { return slices.Contains(m.teams, t) }) {
		return nil
	}
	for _, repo := range r.repos {
		ok, err := api.hasPermission(ctx, token, repo)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return notAllowed(r.refusal(), fmt.Errorf("github user %s matches none of organisations %v, teams %v, repositories %v", user, r.orgs, r.teams, r.repos))
}

// refusal tells the user what they are missing.
func (r githubRules) refusal() string {
	var member []string
	if len(r.orgs) > 0 {
		member = append(member, "organisation")
	}
	if len(r.teams) > 0 {
		member = append(member, "team")
	}
	var parts []string
	if member != nil {
		parts = append(parts, "a member of an allowed "+strings.Join(member, " or "))
	}
	if len(r.repos) > 0 {
		parts = append(parts, "a collaborator on an allowed repository")
	}
	return "Your GitHub account is not " + strings.Join(parts, ", nor ") + "."
}
