package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The browser: one headless Chromium for the whole run. Every test gets
// its own browser context (like a fresh profile: cookies and storage of
// its own) so tests run in parallel without seeing each other's sessions.
var browser struct {
	once   sync.Once
	err    error
	ctx    context.Context
	cancel context.CancelFunc
	output *lockedBuffer
}

// actionTimeout bounds every browser action; a page that never comes shows
// as a failure naming the step instead of a hung test.
const actionTimeout = 30 * time.Second

// browserFlags are Chromium's command line for this closed network: no
// sandbox (the tests may run as root), no GPU, no QUIC, and nothing that
// reaches out to the internet (first-run pages, component updates, sync,
// background networking). The user data dir is a fresh folder of the run.
func browserFlags(path, userDataDir, trustedSPKI string) []chromedp.ExecAllocatorOption {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(userDataDir),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,HttpsUpgrades"),
	)
	if trustedSPKI != "" {
		// The test CA: the browser accepts certificates it issued, like a
		// CA installed on the machine, and no others.
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", trustedSPKI))
	}
	return opts
}

// sharedBrowser starts Chromium on first use and returns its context.
func sharedBrowser(t testing.TB) context.Context {
	t.Helper()
	require(t, needChromium)
	browser.once.Do(func() {
		path, err := chromiumPath()
		if err != nil {
			browser.err = err
			return
		}
		pki, err := testPKI()
		if err != nil {
			browser.err = fmt.Errorf("test CA: %w", err)
			return
		}
		browser.output = &lockedBuffer{}
		opts := append(browserFlags(path, filepath.Join(suite.tmp, "chromium-profile"), pki.caSPKI),
			chromedp.CombinedOutput(browser.output))
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelBrowser := chromedp.NewContext(allocCtx)
		browser.cancel = func() { cancelBrowser(); cancelAlloc() }
		start := time.Now()
		if err := chromedp.Do(ctx); err != nil { // starts the browser
			browser.err = fmt.Errorf("starting %s: %w\n%s", path, err, browser.output.String())
			return
		}
		browser.ctx = ctx
		if v, err := chromedp.Run(ctx, chromedp.Evaluate[string]("navigator.userAgent")); err == nil {
			t.Logf("browser %s started in %s", v, time.Since(start).Round(time.Millisecond))
		}
	})
	if browser.err != nil {
		t.Fatalf("browser: %v", browser.err)
	}
	return browser.ctx
}

func closeBrowser() {
	if browser.cancel != nil {
		browser.cancel()
	}
}

// tab is one browser tab; tabs from newWindow have their own cookie jar,
// tabs from tab.newTab share their window's.
type tab struct {
	t    testing.TB
	name string
	ctx  context.Context
}

// newWindow opens a tab in a new browser context: a browser with no
// cookies, as if on another machine. It closes when the test ends.
func newWindow(t testing.TB, name string) *tab {
	t.Helper()
	root := sharedBrowser(t)
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run creates the tab and ties it to the context it gets:
	// that must be ctx, not a context with a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: opening a tab: %v", name, err)
	}
	return &tab{t: t, name: name, ctx: ctx}
}

// newTab opens another tab sharing b's cookies.
func (b *tab) newTab(name string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("%s: opening a tab: %v", name, err)
	}
	return &tab{t: b.t, name: name, ctx: ctx}
}

// do runs actions, failing the test with what was being done.
func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %s: %v\n%s", b.name, what, err, b.describe())
	}
}

// eval evaluates a JavaScript expression in the page through the DevTools
// protocol (the page's Content-Security-Policy does not apply to it).
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := tryEval[T](b, expr)
	if err != nil {
		b.t.Fatalf("%s: evaluating %.80q: %v", b.name, expr, err)
	}
	return v
}

func tryEval[T any](b *tab, expr string, opts ...chromedp.EvaluateOption) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
}

// open navigates to url and waits for the page (after any redirects) to
// load.
func (b *tab) open(url string) pageState {
	b.t.Helper()
	b.do("navigate to "+url, chromedp.Navigate(url))
	return b.waitPage("the page of "+url, func(pageState) bool { return true })
}

// pageState is what the tab shows.
type pageState struct {
	URL    string `json:"url"`
	Ready  string `json:"ready"`
	Title  string `json:"title"`
	H1     string `json:"h1"`
	Text   string `json:"text"`
	Status int    `json:"status"`
}

func (p pageState) String() string {
	return fmt.Sprintf("URL %s (HTTP %d), title %q, h1 %q, text:\n%s", p.URL, p.Status, p.Title, p.H1, p.Text)
}

const pageStateJS = `(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const h1 = document.querySelector('h1');
  return {
    url: location.href,
    ready: document.readyState,
    title: document.title,
    h1: h1 ? h1.innerText.trim() : '',
    text: document.body ? document.body.innerText : '',
    status: nav && nav.responseStatus ? nav.responseStatus : 0,
  };
})()`

// state reads what the tab shows now.
func (b *tab) state() (pageState, error) {
	return tryEval[pageState](b, pageStateJS)
}

func (b *tab) describe() string {
	p, err := b.state()
	if err != nil {
		return "(page unreadable: " + err.Error() + ")"
	}
	return p.String()
}

// waitPage waits until the loaded page satisfies cond and returns it. It
// polls, so it sees the page at the end of a redirect chain started by a
// click; it fails the test after actionTimeout with what the tab showed.
func (b *tab) waitPage(what string, cond func(pageState) bool) pageState {
	b.t.Helper()
	deadline := time.Now().Add(actionTimeout)
	var last pageState
	var lastErr error
	for time.Now().Before(deadline) {
		p, err := b.state()
		if err == nil && p.Ready == "complete" && p.URL != "about:blank" {
			last, lastErr = p, nil
			if cond(p) {
				return p
			}
		} else if err != nil {
			lastErr = err // a page being replaced by the next one
		}
		time.Sleep(25 * time.Millisecond)
	}
	if lastErr != nil {
		b.t.Fatalf("%s: waiting for %s: %v; last page: %s", b.name, what, lastErr, last)
	}
	b.t.Fatalf("%s: waiting for %s: the tab shows %s", b.name, what, last)
	return last
}

// waitURL waits for a loaded page whose URL starts with prefix.
func (b *tab) waitURL(prefix string) pageState {
	b.t.Helper()
	return b.waitPage("a page at "+prefix, func(p pageState) bool { return strings.HasPrefix(p.URL, prefix) })
}

// click clicks the first element matching the CSS selector.
func (b *tab) click(selector string) {
	b.t.Helper()
	b.do("click "+selector, chromedp.Click(chromedp.CSS(selector)))
}

// clickText clicks the button or link whose visible text is text.
func (b *tab) clickText(text string) {
	b.t.Helper()
	sel := fmt.Sprintf(`//*[self::button or self::a][normalize-space(.)=%q]`, text)
	b.do("click "+text, chromedp.Click(sel))
}

// typeInto types text into the element matching the CSS selector.
func (b *tab) typeInto(selector, text string) {
	b.t.Helper()
	b.do("type into "+selector, chromedp.SendKeys(chromedp.CSS(selector), text))
}

// key presses one key (kb.Tab, kb.Enter, ...) on the focused element.
func (b *tab) key(k string, opts ...chromedp.KeyOption) {
	b.t.Helper()
	b.do("press key", chromedp.KeyEvent(k, opts...))
}

// focused describes the focused element: tag, id and visible text.
func (b *tab) focused() string {
	b.t.Helper()
	return eval[string](b, `(() => { const e = document.activeElement;
	  if (!e || e === document.body) return 'body';
	  const label = e.labels && e.labels.length ? ' label=' + e.labels[0].innerText.trim() : '';
	  return (e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + label + ' ' + (e.innerText || e.value || '').trim()).trim(); })()`)
}

// cookies returns the browser's cookies for url.
func (b *tab) cookies(url string) []*network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		b.t.Fatalf("%s: reading cookies: %v", b.name, err)
	}
	return res.Cookies
}

// setCookie stores c in the browser as it was, for url.
func (b *tab) setCookie(url string, c *network.Cookie) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name: c.Name, Value: c.Value, URL: url, Path: c.Path,
		HTTPOnly: &c.HTTPOnly, Secure: &c.Secure, SameSite: c.SameSite,
	})
	if err != nil {
		b.t.Fatalf("%s: setting cookie %s: %v", b.name, c.Name, err)
	}
}

// emulate sets the viewport width (the height stays 800 CSS pixels) and
// the preferred colour scheme ("light" or "dark").
func (b *tab) emulate(width int64, scheme string) {
	b.t.Helper()
	b.do(fmt.Sprintf("emulate %dpx %s", width, scheme),
		chromedp.EmulateViewport(width, 800),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			})
			return err
		}),
	)
}

// screenshot saves the whole page as a PNG in the artifacts folder.
func (b *tab) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("%s: screenshot %s: %v", b.name, name, err)
	}
	return writeArtifact(b.t, name+".png", png)
}
