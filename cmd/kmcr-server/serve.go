package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"kmcr/audit"
	"kmcr/server"
	"kmcr/server/notify"
	"kmcr/server/pki"
	"kmcr/server/store"
)

func init() {
	register(&command{name: "serve", summary: "run the sync service (TLS websocket and HTTPS API)", run: runServe})
}

func runServe(env *cmdEnv, args []string) error {
	fs := newFlags(env, "serve")
	f := storeFlag(fs)
	dir := f.dir
	addr := fs.String("addr", "127.0.0.1:8443", "listen address")
	plain := fs.Bool("dev-plaintext", false, "serve without TLS (development only; refused unless --addr is a loopback address)")
	var budgets budgetFlag
	fs.Var(&budgets, "break-glass-budget", "emergency accesses one user may be granted, as role=ROLE,hour=N,day=N or user=NAME,hour=N,day=N (repeatable; default paramedic 5 an hour and 20 a day, community 2 and 5)")
	keysPath := fs.String("token-keys", "", "the access-token signing key file (default: token-keys.json in the data directory; e.g. a systemd credential)")
	maxConns := fs.Int("max-conns-per-address", 0, "open connections allowed from one address (default 256)")
	pf := addPortalFlags(fs)
	nf := addNotifyFlags(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := pf.check(*addr, *plain); err != nil {
		return err
	}
	if err := nf.check(); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
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
	st, err := openServeStore(f)
	if err != nil {
		return err
	}
	defer st.Close()
	// Nodes of one PostgreSQL store share the key file (--token-keys), so
	// a token one issues is honoured by all.
	keys, err := openTokenKeys(*dir, *keysPath, st.(secretDropper), logger.Printf)
	if err != nil {
		return err
	}
	// Patients are told of break-glass accesses and first accesses by an
	// organisation (server/notify): queued as uploads are stored, sent by
	// the sender started below.
	var sender *notify.Sender
	accesses := func(device string, u store.User, evs []audit.Event) error {
		if err := notify.Queue(st, device, u, evs, time.Now().UTC()); err != nil {
			return err
		}
		if sender != nil {
			sender.Wake()
		}
		return nil
	}
	svc, err := server.New(server.Config{Store: st, Logf: logger.Printf, TokenKeys: keys, MaxConnsPerSource: *maxConns, BreakGlassBudgets: budgets, Accesses: accesses})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var ln net.Listener
	if f.postgres() {
		// Admin commands reach the database itself (--store), and every
		// node hears their changes: no admin socket, so several nodes may
		// share a data directory on one machine.
		if ln, err = net.Listen("tcp", *addr); err != nil {
			return err
		}
	} else {
		// Without its admin socket a serving process would leave every admin
		// command saying it does not answer, so it does not start without one.
		adm, err := server.ListenAdmin(*dir, server.LocalAdmin(svc))
		if err != nil {
			return err
		}
		if ln, err = net.Listen("tcp", *addr); err != nil {
			adm.Close()
			return err
		}
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
	}
	// Nodes sharing a database keep the citizens' own audit chains apart
	// (server/selfaudit): each names itself by host and port.
	node := ""
	if f.postgres() {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		node = host + ":" + port
	}
	routes, err := portalRoutes(pf, *dir, "https://"+ln.Addr().String(), node, st, svc, logger.Printf)
	if err != nil {
		ln.Close()
		return err
	}
	for pattern, h := range routes {
		svc.Mount(pattern, h)
	}
	if sender, err = nf.sender(st, "https://"+ln.Addr().String(), logger.Printf); err != nil {
		ln.Close()
		return err
	}
	sendCtx, stopSending := context.WithCancel(ctx)
	sent := make(chan error, 1)
	go func() { sent <- sender.Serve(sendCtx) }()
	defer func() { stopSending(); <-sent }()
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
	where := "data in " + *dir
	if f.postgres() {
		where = "store in PostgreSQL (epoch " + st.Epoch() + "), certificate in " + *dir
	}
	fmt.Fprintf(env.stdout, "listening on %s://%s (wss://%s/v1/sync), %s\n", scheme, ln.Addr(), ln.Addr(), where)
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
