package session

// Test-only access to RedisStore internals for the external session_test
// package. Those tests are external because they import internal/testutil,
// which imports packages that import session.

// TicketForTest decodes and validates a ticket cookie value as Load does.
func (rs *RedisStore) TicketForTest(value string) (id string, secret []byte, err error) {
	t, err := rs.parseTicket(value)
	return t.id, t.secret, err
}

// EncodeTicketForTest encodes a ticket as Save does, without validating it,
// so that tests can forge authentic-but-wrong tickets.
func EncodeTicketForTest(c *Codec, cookieName, id string, secret []byte) (string, error) {
	return c.Encode(cookieName, ticketWire{ID: id, Secret: secret})
}

// TicketSecretSizeForTest is the length of a ticket's secret.
const TicketSecretSizeForTest = ticketSecretSize
