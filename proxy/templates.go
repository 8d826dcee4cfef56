package proxy

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
)

//go:embed templates/*.html
var templateFS embed.FS

// PagesConfig brands Gatehouse's pages without rebuilding it.
type PagesConfig struct {
	// TemplatesDir holds templates replacing the built-in ones of the
	// same file name (layout.html, sign_in.html, error.html,
	// forbidden.html, sign_out.html, signed_out.html, continue.html); a
	// missing file keeps the built-in one. "" uses the built-in pages only.
	TemplatesDir string
	// Banner is plain text shown above the sign-in choices; Footer plain
	// text at the bottom of every page. Both are escaped.
	Banner, Footer string
	// LogoURL is an image shown on every page: an https:// URL or a
	// same-site path (validated by configuration).
	LogoURL string
}

// branding is what the templates see as {{brand}}.
type branding struct {
	Banner, Footer string
	LogoURL        template.URL // checked: https:// or a same-site path
}

// basePolicy is the pages' Content-Security-Policy without a logo.
const basePolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:%s; frame-ancestors 'none'; base-uri 'none'"

// newPages parses the built-in templates, then those of c.TemplatesDir
// over them, and renders every page once with sample data so that a
// broken override fails at start-up, naming its file.
func newPages(c PagesConfig) (*pages, error) {
	b := branding{Banner: c.Banner, Footer: c.Footer}
	logoOrigin := ""
	if c.LogoURL != "" {
		u, err := url.Parse(c.LogoURL)
		if err != nil || !(u.Scheme == "https" && u.Host != "" || u.Scheme == "" && u.Host == "" && strings.HasPrefix(c.LogoURL, "/")) {
			return nil, errors.New("proxy: LogoURL must be an https:// URL or a path starting with '/'")
		}
		b.LogoURL = template.URL(u.String()) // #nosec: checked just above
		if u.Host != "" {
			logoOrigin = " https://" + u.Host
		}
	}
	t := template.New("pages").Funcs(template.FuncMap{"brand": func() branding { return b }})
	t, err := t.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{tmpl: t, csp: fmt.Sprintf(basePolicy, logoOrigin)}
	if c.TemplatesDir == "" {
		return p, nil
	}
	builtin, _ := fs.Glob(templateFS, "templates/*.html")
	names := make([]string, len(builtin))
	for i, n := range builtin {
		names[i] = filepath.Base(n)
	}
	entries, err := os.ReadDir(c.TemplatesDir)
	if err != nil {
		return nil, fmt.Errorf("custom templates: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".html") {
			continue
		}
		file := filepath.Join(c.TemplatesDir, e.Name())
		if !slices.Contains(names, e.Name()) {
			return nil, fmt.Errorf("custom template %s: no built-in page has this name. Fix: name it as one of %s", file, strings.Join(names, ", "))
		}
		text, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("custom template %s: %w", file, err)
		}
		if _, err := t.New(e.Name()).Parse(string(text)); err != nil {
			return nil, fmt.Errorf("custom template %s: %w. Fix: correct the template syntax", file, err)
		}
	}
	if err := p.tryRender(); err != nil {
		return nil, fmt.Errorf("custom templates in %s: %w. Fix: use only the fields the built-in template of the same name uses", c.TemplatesDir, err)
	}
	return p, nil
}

// tryRender renders every page with sample data.
func (p *pages) tryRender() error {
	back := redirect.SignInPage.Target()
	samples := map[string]any{
		"sign_in.html":    signInData{Providers: []providers.Info{{ID: "example", DisplayName: "Example"}}, Redirect: back},
		"error.html":      errorData{Title: "Access denied", Message: "Sample", Code: "forbidden", Status: 403, Retry: &back},
		"continue.html":   continueData{Target: back},
		"signed_out.html": nil,
		"sign_out.html":   signOutPageData{Redirect: back, HasRedirect: true, Token: "sample"},
		"forbidden.html":  forbiddenData{Account: "alice@example.com", Provider: "Example", Route: "admin", Again: back, SignOut: back, Token: "sample"},
	}
	for name, data := range samples {
		if err := p.tmpl.ExecuteTemplate(io.Discard, name, data); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// CheckPages parses and renders the pages c describes, as New does, so
// that a configuration check finds a broken custom template.
func CheckPages(c PagesConfig) error {
	_, err := newPages(c)
	return err
}
