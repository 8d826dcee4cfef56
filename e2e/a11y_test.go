package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/chromedp/chromedp"
)

// The accessibility and layout checks every Gatehouse page gets, in the
// browser: axe-core (pinned in e2e/package.json) finds no violation, and
// the page never scrolls sideways, in light and dark colour schemes, at a
// phone's width (390 CSS px) and a desktop's (1280).
var (
	checkWidths  = []int64{390, 1280}
	checkSchemes = []string{"light", "dark"}
)

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(axePath())
	return string(b), err
})

// axeViolation is one failed axe rule.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
		HTML    string `json:"html"`
	} `json:"nodes"`
}

func (v axeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		target, _ := json.Marshal(n.Target)
		fmt.Fprintf(&b, "\n      at %s %s\n        %s", target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n        "))
	}
	return b.String()
}

// overflow is what sticks out sideways.
type overflow struct {
	ScrollWidth int      `json:"scrollWidth"`
	ClientWidth int      `json:"clientWidth"`
	Offenders   []string `json:"offenders"`
}

const overflowJS = `(() => {
  const root = document.documentElement;
  const width = root.clientWidth;
  const offenders = [];
  for (const e of document.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (r.right > width + 0.5 || r.left < -0.5) {
      offenders.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + String(e.className).replace(/ /g, '.') : '') +
        ' [' + Math.round(r.left) + ', ' + Math.round(r.right) + ']');
    }
  }
  return { scrollWidth: Math.max(root.scrollWidth, document.body.scrollWidth), clientWidth: width, offenders: offenders.slice(0, 5) };
})()`

// checkPage runs the accessibility and layout checks on the page b shows,
// saves a screenshot of each scheme and width as name-SCHEME-WIDTH.png,
// and leaves the tab at 1280 px in the light scheme. Failures are
// reported with t.Errorf, so one page's findings do not hide another's.
func checkPage(b *tab, name string) {
	b.t.Helper()
	require(b.t, needAxe)
	src, err := axeSource()
	if err != nil {
		b.t.Fatalf("reading axe-core: %v", err)
	}
	// Evaluated through the DevTools protocol, so the page's strict
	// Content-Security-Policy (no scripts at all) stays as it is.
	if !eval[bool](b, `typeof window.axe === 'object'`) {
		b.do("load axe-core", chromedp.Evaluate[chromedp.Void](src))
	}
	for _, width := range checkWidths {
		for _, scheme := range checkSchemes {
			where := fmt.Sprintf("%s (%s, %d px)", name, scheme, width)
			b.emulate(width, scheme)
			if dark := eval[bool](b, `matchMedia('(prefers-color-scheme: dark)').matches`); dark != (scheme == "dark") {
				b.t.Fatalf("%s: the colour scheme emulation did not apply", where)
			}
			violations, err := tryEval[[]axeViolation](b,
				`axe.run(document, { resultTypes: ['violations'] }).then(r => r.violations)`,
				chromedp.EvalAwaitPromise)
			if err != nil {
				b.t.Fatalf("%s: axe-core: %v", where, err)
			}
			for _, v := range violations {
				b.t.Errorf("%s: axe-core: %s", where, v)
			}
			if o := eval[overflow](b, overflowJS); o.ScrollWidth > o.ClientWidth {
				b.t.Errorf("%s: the page scrolls sideways: %d px of content in %d px; sticking out: %s",
					where, o.ScrollWidth, o.ClientWidth, strings.Join(o.Offenders, ", "))
			}
			b.screenshot(fmt.Sprintf("%s-%s-%d", name, scheme, width))
		}
	}
	b.emulate(1280, "light")
}
