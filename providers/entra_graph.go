package providers

import (
	"context"
	"fmt"
	"net/http"
)

// entraGroupsPath lists the user's groups, direct and inherited, with
// the two properties Gatehouse reads, in pages of the most Graph allows.
const entraGroupsPath = "/v1.0/me/transitiveMemberOf/microsoft.graph.group?$select=id,displayName&$top=999"

// transitiveGroups reads the object ids of every group the user belongs
// to from Microsoft Graph, following @odata.nextLink (on Graph's own host
// only; the token's _claim_sources endpoint is never called).
func (h *entraHook) transitiveGroups(ctx context.Context, token string) ([]string, error) {
	var out []string
	next := h.graph.url(entraGroupsPath)
	for page := 0; next != ""; page++ {
		if page == maxAPIPages {
			return nil, badResponse(fmt.Errorf("microsoft graph: more than %d pages of groups", maxAPIPages))
		}
		r, err := h.graph.get(ctx, next, token)
		if err != nil {
			return nil, err
		}
		if r.status != http.StatusOK {
			// 401: the access token is not for Graph (no Graph permission
			// among the scopes); 403: the permission is not granted.
			e := h.graph.unexpected("GET "+redactURL(next), r)
			e.Message = "Gatehouse could not read your group memberships from Microsoft Graph. Please tell the administrator."
			e.Err = fmt.Errorf("%w (scopes need User.Read or GroupMember.Read.All, with consent)", e.Err)
			return nil, e
		}
		var doc struct {
			Value []struct {
				ID string `json:"id"`
			} `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := r.decode(&doc); err != nil {
			return nil, badResponse(fmt.Errorf("microsoft graph groups: %w", err))
		}
		for _, g := range doc.Value {
			if g.ID != "" && checkPrintable(g.ID) == nil {
				out = append(out, g.ID)
			}
		}
		next = doc.NextLink
	}
	return out, nil
}
