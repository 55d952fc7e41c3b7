package syncclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"kmcr/sync/protocol"
)

// Config configures a Client. Server, DeviceID, Applier and Tokens are
// required; every other field has a production default.
type Config struct {
	// Server is the sync service's websocket base, "wss://HOST:PORT": the
	// address tried first. The HTTPS API base is derived from it
	// ("https://HOST:PORT").
	Server string
	// Servers lists every address of the sync service when it has
	// several nodes (peers on one central record, sharing its CA, store
	// and token keys), in the order to try them. Server, when set, is
	// where the client starts; one not in the list is tried before it.
	// After a failure of the node (see Serve) the client moves to the
	// next address, keeping its cursor and credentials. Empty: Server
	// alone. Repeated addresses count once.
	Servers []string
	// TLS carries the trust anchors: RootCAs from the server's CA file.
	// The client raises MinVersion to TLS 1.2 if it is lower. Nil means
	// the system roots.
	TLS *tls.Config
	// CAFile names the file TLS.RootCAs came from, so a certificate error
	// can tell the user which file did not match.
	CAFile string
	// DeviceID is this device's identifier, sent when refreshing tokens.
	DeviceID string
	// Applier stores what the server sends; the client core implements it.
	Applier Applier
	// Tokens holds the access token and refresh credential.
	Tokens TokenStore
	// Timeouts are the connection's heartbeat and deadlines
	// (protocol.DefaultTimeouts when zero).
	Timeouts protocol.Timeouts
	// DialTimeout bounds the TCP connect, TLS handshake and websocket
	// upgrade (protocol.HandshakeTimeout when zero).
	DialTimeout time.Duration
	// Window is how many batches the server may send ahead of the
	// client's acks, 1..protocol.MaxWindow (protocol.DefaultWindow when
	// zero). Each batch is at most protocol.MaxServerMessage bytes.
	Window int
	// Plain offers only the uncompressed subprotocol, as a client built
	// before compression did (for comparisons and compatibility tests).
	Plain bool
	// Backoff schedules reconnects (DefaultBackoff when zero).
	Backoff Backoff
	// OnState is called on every state change, from the goroutine running
	// Serve or SyncOnce. It must not block.
	OnState func(State)
	// Client names the product and version for the server's logs,
	// "kmcr/VERSION" ("kmcr" when empty).
	Client string
	// Logf receives diagnostic lines; never tokens or patient data. Nil
	// discards them.
	Logf func(format string, args ...any)
}

// endpoints are the URLs derived from one address of Config.Server or
// Config.Servers.
type endpoints struct {
	addr    string // the address as configured, wss://host:port
	sync    string // wss://host:port/v1/sync
	api     string // https://host:port
	display string // host:port, for messages
}

// nodes are the configured addresses in the order they are tried, and
// where to start.
type nodes struct {
	eps   []endpoints
	start int
}

// addresses lists Servers with Server first when it is missing from them,
// without repeats, and the index of Server (0 when it is empty).
func addresses(server string, servers []string) ([]string, int) {
	var list []string
	if server != "" && !slices.Contains(servers, server) {
		list = append(list, server)
	}
	for _, s := range servers {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list, max(0, slices.Index(list, server))
}

func parseServers(server string, servers []string) (nodes, error) {
	list, start := addresses(server, servers)
	if len(list) == 0 {
		return nodes{}, errors.New("no server address configured")
	}
	n := nodes{start: start}
	for _, a := range list {
		ep, err := parseServer(a)
		if err != nil {
			return nodes{}, err
		}
		n.eps = append(n.eps, ep)
	}
	return n, nil
}

func parseServer(server string) (endpoints, error) {
	if server == "" {
		return endpoints{}, errors.New("no server address configured")
	}
	u, err := url.Parse(server)
	if err != nil {
		return endpoints{}, fmt.Errorf("server address %q: %w", server, err)
	}
	if u.Scheme != "wss" {
		return endpoints{}, fmt.Errorf("server address %q: must start with wss:// (the sync connection is always encrypted)", server)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return endpoints{}, fmt.Errorf("server address %q: want wss://HOST:PORT", server)
	}
	base := strings.TrimSuffix(u.Path, "/")
	return endpoints{
		addr:    server,
		sync:    "wss://" + u.Host + base + protocol.PathSync,
		api:     "https://" + u.Host + base,
		display: u.Host,
	}, nil
}

// withDefaults checks cfg and fills in defaults. needSync is false for
// Login, which needs only the server and TLS settings.
func (cfg Config) withDefaults(needSync bool) (Config, nodes, error) {
	ep, err := parseServers(cfg.Server, cfg.Servers)
	if err != nil {
		return cfg, ep, err
	}
	if needSync {
		switch {
		case cfg.DeviceID == "":
			return cfg, ep, errors.New("client config: no device ID")
		case cfg.Applier == nil:
			return cfg, ep, errors.New("client config: no Applier")
		case cfg.Tokens == nil:
			return cfg, ep, errors.New("client config: no TokenStore")
		}
	}
	if cfg.TLS == nil {
		cfg.TLS = &tls.Config{}
	}
	cfg.TLS = cfg.TLS.Clone()
	if cfg.TLS.MinVersion < tls.VersionTLS12 {
		cfg.TLS.MinVersion = tls.VersionTLS12
	}
	if cfg.Timeouts == (protocol.Timeouts{}) {
		cfg.Timeouts = protocol.DefaultTimeouts
	}
	if cfg.Timeouts.Ping <= 0 || cfg.Timeouts.Read <= cfg.Timeouts.Ping || cfg.Timeouts.Write <= 0 {
		return cfg, ep, fmt.Errorf("client config: timeouts %+v: want Ping > 0, Read > Ping, Write > 0", cfg.Timeouts)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = protocol.HandshakeTimeout
	}
	if cfg.Window == 0 {
		cfg.Window = protocol.DefaultWindow
	}
	if cfg.Window < 1 || cfg.Window > protocol.MaxWindow {
		return cfg, ep, fmt.Errorf("client config: window %d outside 1..%d", cfg.Window, protocol.MaxWindow)
	}
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = DefaultBackoff
	}
	if err := cfg.Backoff.validate(); err != nil {
		return cfg, ep, err
	}
	if cfg.Client == "" {
		cfg.Client = "kmcr"
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.OnState == nil {
		cfg.OnState = func(State) {}
	}
	return cfg, ep, nil
}
