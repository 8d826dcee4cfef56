package config

// The generator of docs/configuration.md. It lives in a test file so that
// the binary does not carry it: 'go test ./config -run TestDocs -update'
// rewrites the file, and TestDocs fails when it is out of date.

import (
	"fmt"
	"io"
	"reflect"
	"strings"
)

// exampleYAML is the example file of docs/configuration.md; a test loads
// and validates it.
const exampleYAML = `# /etc/gatehouse/gatehouse.yaml
http_address: 0.0.0.0:4180
upstream: http://127.0.0.1:8080
redirect_url: https://app.example.com/oauth2/callback
whitelist_domain: .example.com     # a string is read as a comma-separated list
# '*' admits everyone the providers below authenticate (osu! and Mastodon
# identities carry no email); allowed_users / allowed_groups narrow it per provider.
email_domain: ["*"]

cookie_secret_file: /run/secrets/cookie_secret   # 'openssl rand -base64 32'
cookie_expire: 72h
cookie_refresh: 1h

session_store: redis
redis_url: redis://redis:6379/0
redis_password_file: /run/secrets/redis_password

providers:
  - id: corp
    type: oidc
    name: Example SSO
    issuer_url: https://sso.example.com/realms/corp
    client_id: gatehouse
    client_secret_file: /run/secrets/corp_client_secret
  - type: osu
    client_id: "12345"
    client_secret_file: /run/secrets/osu_client_secret
    refuse_restricted: true
    allowed_users: ["osu:2", "osu:124493"]
  - type: mastodon
    allowed_instances:
      - mastodon.social
      - "*.example.social"

# Per-path policy (docs/routes.md): the first matching route wins.
routes:
  - name: health
    path: /healthz
    public: true
  - name: admin
    path: /admin/
    upstream: http://127.0.0.1:9000
    allow: {groups: [admins]}
`

// writeMarkdown writes docs/configuration.md from the same tags as Usage.
func writeMarkdown(w io.Writer) {
	var b strings.Builder
	b.WriteString(`<!-- Generated from config/options.go by 'go test ./config -run TestDocs -update'; do not edit. -->

# Configuring Gatehouse

Every option can be given three ways:

- as a **flag**: ` + "`--cookie-secret-file=/run/secrets/cookie`" + `; boolean flags take their value
  with ` + "`=`" + ` (` + "`--cookie-secure=false`" + `); repeatable flags are given several times;
- as an **environment variable**: ` + "`GATEHOUSE_`" + ` and the flag name upper-cased with ` + "`-`" + ` → ` + "`_`" + `
  (` + "`GATEHOUSE_COOKIE_SECRET_FILE`" + `); lists are comma-separated; an empty variable counts as unset;
  variables that name no option are ignored;
- in the **YAML file** named by ` + "`--config`" + ` or ` + "`GATEHOUSE_CONFIG`" + `: the flag name with ` + "`-`" + ` → ` + "`_`" + `
  (` + "`cookie_secret_file`" + `); lists are YAML lists, or a comma-separated string; a null value
  leaves the default. Unknown keys are an error.

## Precedence

**flags > environment > file > defaults.** A list given at a higher level replaces the lower
one; it is never merged. ` + "`gatehouse --help`" + ` prints this reference too.

A few options keep an older spelling as an alias (shown as "also ..." below): it works as a flag, a
variable and a YAML key like the current one. Giving both spellings in one place (the command line,
the environment or the file) is an error.

Secrets (` + "`client_secret`" + `, ` + "`cookie_secret`" + `, Redis passwords) are best kept in files
(` + "`*_file`" + ` options) so they appear neither in ` + "`ps`" + ` nor in the environment. A file holding a
secret may end with a newline. Gatehouse checks the whole configuration at start-up and reports every
problem at once, naming the option and the fix; it never prints a secret.

## Example

` + "```yaml\n" + exampleYAML + "```\n")

	group := ""
	for _, o := range optionList() {
		if o.group != group {
			group = o.group
			fmt.Fprintf(&b, "\n## %s\n\n", group)
			b.WriteString("| Flag | Environment | YAML | Default | Description |\n|---|---|---|---|---|\n")
		}
		flagCell, envCell, yamlCell := "—", "—", "—"
		if o.name != "" {
			flagCell = "`--" + o.name + "`"
		}
		if o.env != "" {
			envCell = "`" + o.env + "`"
		}
		if o.yamlKey != "" {
			yamlCell = "`" + o.yamlKey + "`"
		}
		for _, a := range o.aliases {
			flagCell += "<br>(also `--" + a.name + "`)"
			envCell += "<br>(also `" + a.env + "`)"
			yamlCell += "<br>(also `" + a.yamlKey + "`)"
		}
		def := ""
		if d := defaultText(o); d != "" {
			def = "`" + d + "`"
		}
		help := o.help
		switch o.yamlKey {
		case "providers":
			help += " (see [Providers list](#providers-list))"
		case "routes", "jwt_bearer":
			help += " (see [Routes list](#routes-list))"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", flagCell, envCell, yamlCell, def, mdEscape(help))
	}

	b.WriteString(`
## Providers list

The YAML key ` + "`providers`" + ` configures several providers at once; it replaces the single provider given by
the ` + "`--provider`" + `, ` + "`--client-id`" + `, ... options (setting both is an error). Each entry takes these keys:

| Key | Type | Description |
|---|---|---|
`)
	writeMarkdownKeys(&b, reflect.TypeFor[ProviderOptions](), "")
	b.WriteString(`
Types: ` + "`oidc`" + ` needs ` + "`issuer_url`" + ` (and ` + "`auth_url`" + `, ` + "`token_url`" + `, ` + "`jwks_url`" + ` with ` + "`skip_discovery`" + `);
` + "`oauth2`" + ` needs ` + "`auth_url`" + `, ` + "`token_url`" + ` and ` + "`userinfo_url`" + `; ` + "`keycloak`" + ` needs the realm's ` + "`issuer_url`" + `;
` + "`entra`" + ` needs ` + "`tenant_id`" + ` (and ` + "`allowed_tenants`" + ` with organizations or common); ` + "`mastodon`" + ` needs ` + "`allowed_instances`" + ` and no
client credentials (it registers itself on each instance); ` + "`quaily`" + ` is a public client whose secret is
optional; every other type needs ` + "`client_id`" + ` and a client secret. A key that only some types read
(` + "`base_url`" + `, ` + "`allowed_organizations`" + `, ` + "`allowed_projects`" + `, ` + "`hosted_domain`" + `, ` + "`tenant_id`" + `, ...) is an error on
any other type, so a restriction is never silently ignored. See [providers.md](providers.md) for each type. Provider endpoints must be
` + "`https://`" + ` (` + "`http://`" + ` only for loopback hosts). Errors name entries as ` + "`providers[0].client_id`" + `
(counting from 0).

## Routes list

The YAML key ` + "`routes`" + ` lists the routes, evaluated in order (the first match wins); see
[routes.md](routes.md) for the model and worked examples. Each entry takes these keys:

| Key | Type | Description |
|---|---|---|
`)
	writeMarkdownKeys(&b, reflect.TypeFor[RouteOptions](), "")
	b.WriteString(`
Each entry of ` + "`jwt_bearer`" + ` (the issuers of machine clients' tokens) takes these keys:

| Key | Type | Description |
|---|---|---|
`)
	writeMarkdownKeys(&b, reflect.TypeFor[JWTBearerOptions](), "")
	io.WriteString(w, b.String())
}

// writeMarkdownKeys writes one table row per YAML key, nested structs as
// dotted keys.
func writeMarkdownKeys(b *strings.Builder, t reflect.Type, prefix string) {
	for i := range t.NumField() {
		f := t.Field(i)
		key := fieldKey(t, f)
		if key == "" {
			continue
		}
		fmt.Fprintf(b, "| `%s%s` | %s | %s |\n", prefix, key, yamlTypeName(f.Type), mdEscape(fieldHelp(t, f)))
		if f.Type.Kind() == reflect.Struct {
			writeMarkdownKeys(b, f.Type, prefix+key+".")
		}
	}
}

// mdEscape makes text safe inside a Markdown table cell.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`).Replace(s)
}
