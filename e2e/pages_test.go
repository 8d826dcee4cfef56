package e2e

import (
	"bufio"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// devServer is `gatehouse dev`: the development provider, the demo
// upstream and a gateway, all in one process.
type devServer struct {
	gateway, issuer string
}

// startDev runs `gatehouse dev` on a free port until the test ends and
// reads the provider's address from its banner.
func startDev(t testing.TB) *devServer {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(gatehouseBinary(t), "dev", "--http-address", "127.0.0.1:"+strconv.Itoa(port))
	cmd.Env = gatehouseEnv()
	dieWithTest(cmd)
	log := &lockedBuffer{}
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("gatehouse dev: %v", err)
	}
	exited := make(chan struct{})
	banner := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Provider:"); ok {
				banner <- strings.TrimSpace(v)
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if strings.Contains(log.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector reported a data race in gatehouse dev:\n%s", tail(log.String(), 200))
		} else if t.Failed() {
			t.Logf("gatehouse dev log:\n%s", tail(log.String(), 60))
		}
	})
	d := &devServer{gateway: "http://127.0.0.1:" + strconv.Itoa(port)}
	select {
	case d.issuer = <-banner:
	case <-exited:
		t.Fatalf("gatehouse dev exited:\n%s", log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("gatehouse dev printed no banner within 30s:\n%s", log.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(d.gateway + "/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse dev is not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPagesOfGatehouseDev walks `gatehouse dev` in the browser and checks
// the pages no other scenario reaches for accessibility and layout: the
// development provider's sign-in (fresh and with an error), its "request
// refused" and "signed out" pages, Gatehouse's page for a declined login,
// its error page, and the demo upstream.
func TestPagesOfGatehouseDev(t *testing.T) {
	t.Parallel()
	require(t, needChromium, needAxe)
	d := startDev(t)
	b := newWindow(t, "dev user")

	b.open(d.gateway + "/dev/page?x=1")
	b.waitURL(d.gateway + "/oauth2/sign_in?")
	b.clickText("Sign in with Gatehouse dev provider")
	p := b.waitURL(d.issuer + "/authorize?")
	if p.H1 != "Sign in" || !strings.Contains(p.Text, "Alice Admin (alice)") {
		t.Fatalf("the dev provider shows %s, want its sign-in page listing alice", p)
	}
	checkPage(b, "devidp-sign-in")

	// A username the form's pattern refuses; the browser's own check is
	// switched off so that the provider's answer shows.
	b.typeInto("#username", "-bad name")
	eval[bool](b, `(document.forms[0].noValidate = true)`)
	b.clickText("Sign in")
	p = b.waitPage("the dev provider's error", func(p pageState) bool { return p.Status == 400 })
	if !strings.Contains(p.Text, "A username is 1 to 64 letters") {
		t.Fatalf("a bad username shows %s, want the dev provider's explanation", p)
	}
	checkPage(b, "devidp-sign-in-error")

	b.clickText("Cancel")
	p = b.waitURL(d.gateway + "/oauth2/callback?")
	if p.Status != 403 || !strings.Contains(p.Text, "You declined the request to sign in.") {
		t.Fatalf("cancelling at the provider shows %s, want Gatehouse's 403 page", p)
	}
	checkPage(b, "declined")

	b.clickText("Try again")
	b.waitURL(d.gateway + "/oauth2/sign_in?")
	b.clickText("Sign in with Gatehouse dev provider")
	b.waitURL(d.issuer + "/authorize?")
	b.do("choose alice", chromedp.Click(`//button[@name="user"][@value="alice"]`))
	p = b.waitURL(d.gateway + "/dev/page?x=1")
	if !strings.Contains(p.Text, "Hello, alice!") || !strings.Contains(p.Text, "alice@example.test") {
		t.Fatalf("after signing in as alice the browser shows %s, want the demo upstream greeting alice", p)
	}
	checkPage(b, "dev-demo-upstream")

	p = b.open(d.gateway + "/oauth2/callback?state=bogus&code=x")
	if p.Status != 400 || p.H1 != "Sign-in failed" {
		t.Fatalf("a stale callback shows %s, want the 400 error page", p)
	}
	checkPage(b, "error")

	p = b.open(d.issuer + "/authorize")
	if p.Status != 400 || p.H1 != "Request refused" {
		t.Fatalf("a bad authorization request shows %s, want the dev provider's refusal", p)
	}
	checkPage(b, "devidp-refused")

	p = b.open(d.issuer + "/end_session")
	if p.H1 != "Signed out" {
		t.Fatalf("the dev provider's end_session shows %s, want its signed-out page", p)
	}
	checkPage(b, "devidp-signed-out")
}
