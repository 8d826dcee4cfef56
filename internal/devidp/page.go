package devidp

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// The pages need no JavaScript; the only inline content is the style
// sheet, so the policy allows inline styles and nothing else.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"

var pages = template.Must(template.New("layout").Funcs(template.FuncMap{"join": strings.Join}).Parse(`{{define "head"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} · Gatehouse dev IdP</title>
<style>
:root { color-scheme: light dark; --accent: #2856c9; --muted: #595959; }
@media (prefers-color-scheme: dark) { :root { --muted: #a8a8a8; } }
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; display: grid; place-items: center; min-height: 100vh; background: Canvas; color: CanvasText; }
main { box-sizing: border-box; width: min(28rem, 92vw); padding: 2rem; border: 1px solid GrayText; border-radius: .75rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
p.note { color: var(--muted); margin: 0 0 1.25rem; font-size: .9rem; }
label { display: block; font-weight: 600; margin-bottom: .25rem; }
input[type=text] { width: 100%; box-sizing: border-box; padding: .6rem; font: inherit; border: 1px solid GrayText; border-radius: .4rem; }
button { font: inherit; padding: .6rem 1rem; border-radius: .4rem; border: 1px solid var(--accent); cursor: pointer; }
button.primary { background: var(--accent); color: #fff; }
button.user { width: 100%; text-align: left; background: transparent; color: inherit; border-color: GrayText; margin-bottom: .5rem; }
button.user span { display: block; font-size: .85rem; color: var(--muted); }
button.cancel { background: transparent; color: inherit; border-color: GrayText; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.row { display: flex; gap: .5rem; margin-top: .75rem; }
.error { border-left: 4px solid #c62828; padding: .5rem .75rem; margin-bottom: 1rem; }
ul { list-style: none; padding: 0; margin: 0; }
fieldset { border: 0; padding: 0; margin: 1.25rem 0 0; }
legend { font-weight: 600; margin-bottom: .5rem; }
</style>
</head>
<body>
<main>
{{end}}
{{define "foot"}}</main>
</body>
</html>
{{end}}
{{define "login"}}{{template "head" .}}
<h1>Sign in</h1>
<p class="note">Gatehouse development identity provider. Not for production use.</p>
{{if .Error}}<div class="error" role="alert" id="form-error">{{.Error}}</div>{{end}}
<form method="post" action="{{.Action}}">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}
<label for="username">Username</label>
<input type="text" id="username" name="username" value="{{.Username}}" autocomplete="username" autocapitalize="none" spellcheck="false" maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9._\-]*" required{{if .Error}} aria-invalid="true"{{end}}{{if or .Error .AnyUser}} aria-describedby="{{if .Error}}form-error{{end}}{{if and .Error .AnyUser}} {{end}}{{if .AnyUser}}username-hint{{end}}"{{end}} autofocus>
{{if .AnyUser}}<p class="note" id="username-hint">Any username works: it gets the address &lt;username&gt;@example.test.</p>{{end}}
<div class="row">
<button type="submit" class="primary" name="action" value="login">Sign in</button>
<button type="submit" class="cancel" name="action" value="cancel" formnovalidate>Cancel</button>
</div>
{{if .Users}}<fieldset>
<legend>Or sign in as a test user</legend>
<ul>
{{range .Users}}<li><button type="submit" class="user" name="user" value="{{.Username}}" formnovalidate>
{{if .Name}}{{.Name}} ({{.Username}}){{else}}{{.Username}}{{end}}
<span>{{if .Email}}{{.Email}}{{if not .EmailVerified}} (unverified){{end}}{{else}}no email{{end}}{{if .Groups}} · groups: {{join .Groups ", "}}{{end}}</span>
</button></li>
{{end}}</ul>
</fieldset>{{end}}
</form>
{{template "foot"}}{{end}}
{{define "message"}}{{template "head" .}}
<h1>{{.Title}}</h1>
<p{{if .IsError}} role="alert"{{end}}>{{.Message}}</p>
{{template "foot"}}{{end}}
`))

type hiddenField struct{ Name, Value string }

type loginPage struct {
	Title    string
	Action   string
	Hidden   []hiddenField
	Username string
	Error    string
	Users    []User
	AnyUser  bool
}

type messagePage struct {
	Title   string
	Message string
	IsError bool
}

// renderLogin shows the login form for the authorization request q. The
// form carries the request's parameters back in hidden fields, so no
// server-side state exists before the user picks an identity.
func (p *IdP) renderLogin(w http.ResponseWriter, status int, q url.Values, username, errMsg string) {
	page := loginPage{Title: "Sign in", Action: "authorize", Username: username, Error: errMsg, Users: p.fixedUsers(), AnyUser: p.opts.AnyUser}
	for _, k := range authParams {
		if q.Has(k) {
			page.Hidden = append(page.Hidden, hiddenField{k, q.Get(k)})
		}
	}
	p.render(w, status, "login", page)
}

func (p *IdP) renderError(w http.ResponseWriter, status int, msg string) {
	p.render(w, status, "message", messagePage{Title: "Request refused", Message: msg, IsError: true})
}

func (p *IdP) renderSignedOut(w http.ResponseWriter) {
	p.render(w, http.StatusOK, "message", messagePage{Title: "Signed out", Message: "You are signed out of the development identity provider. You can close this tab."})
}

func (p *IdP) render(w http.ResponseWriter, status int, name string, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, data)
}
