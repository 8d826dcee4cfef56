package devidptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Login plays the browser's part of a login at a devidp: it opens authURL
// (an authorization URL, as built by a client) and, when the IdP shows its
// form, submits it as username. It returns the redirect the IdP answered
// with (the client's redirect URI with code and state, or with an error)
// without following it.
//
// client may be nil; its CheckRedirect is never used. With AutoLogin set,
// username is ignored.
func Login(ctx context.Context, client *http.Client, authURL, username string) (*url.URL, error) {
	c := &http.Client{}
	if client != nil {
		cp := *client
		c = &cp
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, fmt.Errorf("devidp login: %w", err)
	}
	loc, status, err := doRedirect(c, req)
	if err != nil || loc != nil {
		return loc, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("devidp login: authorize answered %d", status)
	}
	if username == "" {
		return nil, errors.New("devidp login: the IdP shows its form but no username was given")
	}
	au, _ := url.Parse(authURL) // parsed fine by NewRequest above
	form := au.Query()
	form.Set("username", username)
	form.Set("action", "login")
	au.RawQuery = ""
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, au.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("devidp login: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	loc, status, err = doRedirect(c, req)
	if err != nil || loc != nil {
		return loc, err
	}
	return nil, fmt.Errorf("devidp login: form submission answered %d", status)
}

// doRedirect sends req and returns the absolute redirect target when the
// answer is a redirect.
func doRedirect(c *http.Client, req *http.Request) (*url.URL, int, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("devidp login: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusFound, http.StatusSeeOther:
		loc, err := resp.Location()
		if err != nil {
			return nil, resp.StatusCode, fmt.Errorf("devidp login: %w", err)
		}
		return loc, resp.StatusCode, nil
	}
	return nil, resp.StatusCode, nil
}
