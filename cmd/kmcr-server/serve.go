package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os/signal"
	"syscall"
	"time"

	"kmcr/server"
	"kmcr/server/pki"
	"kmcr/server/store"
)

func init() {
	register(&command{name: "serve", summary: "run the sync service (TLS websocket and HTTPS API)", run: runServe})
}

func runServe(env *cmdEnv, args []string) error {
	fs := newFlags(env, "serve")
	dir := dataDirFlag(fs)
	addr := fs.String("addr", "127.0.0.1:8443", "listen address")
	plain := fs.Bool("dev-plaintext", false, "serve without TLS (development only; refused unless --addr is a loopback address)")
	var budgets budgetFlag
	fs.Var(&budgets, "break-glass-budget", "emergency accesses one user may be granted, as role=ROLE,hour=N,day=N or user=NAME,hour=N,day=N (repeatable; default paramedic 5 an hour and 20 a day, community 2 and 5)")
	keysPath := fs.String("token-keys", "", "the access-token signing key file (default: token-keys.json in the data directory; e.g. a systemd credential)")
	maxConns := fs.Int("max-conns-per-address", 0, "open connections allowed from one address (default 256)")
	pf := addPortalFlags(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := pf.check(*addr, *plain); err != nil {
		return err
	}
	if !store.Exists(*dir) {
		return fmt.Errorf("no kmcr-server store in %s: run \"kmcr-server init --data-dir %s\" first", *dir, *dir)
	}
	if *plain {
		host, _, err := net.SplitHostPort(*addr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("%w: --dev-plaintext is only allowed on a loopback address such as 127.0.0.1:8080", errUsage)
		}
	}
	logger := log.New(env.stderr, "kmcr-server: ", log.LstdFlags)
	if _, err := privateDataDir(*dir, logger.Printf); err != nil {
		return err
	}
	st, err := store.OpenBolt(*dir, time.Second)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("another kmcr-server is already serving %s", *dir)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := openTokenKeys(*dir, *keysPath, st, logger.Printf)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	svc, err := server.New(server.Config{Store: st, Logf: logger.Printf, TokenKeys: keys, MaxConnsPerSource: *maxConns, BreakGlassBudgets: budgets})
	if err != nil {
		ln.Close()
		return err
	}
	routes, err := portalRoutes(pf, *dir, "https://"+ln.Addr().String(), st, svc, logger.Printf)
	if err != nil {
		ln.Close()
		return err
	}
	for pattern, h := range routes {
		svc.Mount(pattern, h)
	}
	// Without its admin socket a serving process would leave every admin
	// command saying it does not answer, so it does not start without one.
	adm, err := server.ListenAdmin(*dir, server.LocalAdmin(svc))
	if err != nil {
		ln.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The admin socket stops with the service, and its operations end
	// before the store closes.
	adminCtx, stopAdmin := context.WithCancel(ctx)
	adminDone := make(chan error, 1)
	go func() { adminDone <- adm.Serve(adminCtx) }()
	defer func() {
		stopAdmin()
		if err := <-adminDone; err != nil {
			logger.Printf("admin socket: %v", err)
		}
	}()
	scheme := "https"
	if *plain {
		scheme = "http"
		logger.Printf("WARNING: serving without TLS (development only)")
		fmt.Fprintf(env.stdout, "listening on http://%s (ws://%s/v1/sync)\n", ln.Addr(), ln.Addr())
		return svc.Serve(ctx, ln, nil)
	}
	// Only the server certificate and its key: serve never reads the CA's
	// private key, which belongs offline (see init).
	cert, err := pki.LoadServer(*dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "listening on %s://%s (wss://%s/v1/sync), data in %s\n", scheme, ln.Addr(), ln.Addr(), *dir)
	if len(routes) > 0 {
		fmt.Fprintf(env.stdout, "patient portal: %s://%s/my/\n", scheme, ln.Addr())
	}
	err = svc.Serve(ctx, ln, pki.ServerTLS(cert))
	logger.Printf("stopped")
	return err
}

// budgetFlag collects --break-glass-budget values.
type budgetFlag []server.BreakGlassBudget

func (b *budgetFlag) String() string { return fmt.Sprint([]server.BreakGlassBudget(*b)) }

func (b *budgetFlag) Set(v string) error {
	bb, err := server.ParseBreakGlassBudget(v)
	if err != nil {
		return err
	}
	*b = append(*b, bb)
	return nil
}
