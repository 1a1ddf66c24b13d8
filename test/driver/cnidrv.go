// cnidrv is a minimal CNI runtime for cni-trace's tests: it drives a conflist through
// libcni (Debian's golang-github-appc-cni-dev, v1.1.2) exactly as containerd or podman
// would, and prints one JSON line describing the outcome. Built by test/support/driver.ts.
// test/driver/otel builds this same file against upstream libcni with trace propagation.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

type outcome struct {
	OK         bool            `json:"ok"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      *errInfo        `json:"error,omitempty"`
	DurationNs int64           `json:"durationNs"`
}

// moreCommands are the operations only a newer libcni has: test/driver/otel/cni11.go adds
// gc and status there (libcni ≥ 1.2); Debian's 1.1.2 build knows add, check, del, version.
var moreCommands = map[string]func(ctx context.Context, cni *libcni.CNIConfig, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error{}

// withRuntimeSpan is how a tracing runtime hands its span to libcni: in the call's context,
// not in the env. This build has no OpenTelemetry and leaves the context alone;
// test/driver/otel/span.go replaces it.
var withRuntimeSpan = func(ctx context.Context, traceparent string) context.Context { return ctx }

type errInfo struct {
	Typed   bool   `json:"typed"`
	Code    uint   `json:"code"`
	Msg     string `json:"msg"`
	Details string `json:"details,omitempty"`
	Text    string `json:"text"`
}

func main() {
	conflist := flag.String("conflist", "", "conflist file")
	netns := flag.String("netns", "", "netns path")
	id := flag.String("id", "", "container id")
	ifname := flag.String("ifname", "eth0", "interface name")
	args := flag.String("args", "", "CNI_ARGS as K=V;K=V")
	capArgs := flag.String("cap-args", "", "capability args as JSON object")
	path := flag.String("path", "/usr/lib/cni", "plugin dirs, colon separated")
	cacheDir := flag.String("cache-dir", "", "libcni cache dir")
	timeout := flag.Duration("timeout", 60*time.Second, "context timeout (the runtime's kill deadline)")
	traceparent := flag.String("traceparent", "", "the runtime's span (W3C traceparent), put in libcni's context (test/driver/otel build only)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: cnidrv [flags] add|check|del|version (upstream build: gc|status too)")
		os.Exit(2)
	}
	list, err := libcni.ConfListFromFile(*conflist)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conflist:", err)
		os.Exit(2)
	}
	cni := libcni.NewCNIConfigWithCacheDir(strings.Split(*path, ":"), *cacheDir, nil)
	rt := &libcni.RuntimeConf{ContainerID: *id, NetNS: *netns, IfName: *ifname, CapabilityArgs: map[string]interface{}{}}
	if *args != "" {
		for _, kv := range strings.Split(*args, ";") {
			parts := strings.SplitN(kv, "=", 2)
			if len(parts) == 2 {
				rt.Args = append(rt.Args, [2]string{parts[0], parts[1]})
			}
		}
	}
	if *capArgs != "" {
		if err := json.Unmarshal([]byte(*capArgs), &rt.CapabilityArgs); err != nil {
			fmt.Fprintln(os.Stderr, "cap-args:", err)
			os.Exit(2)
		}
	}
	ctx, cancel := context.WithTimeout(withRuntimeSpan(context.Background(), *traceparent), *timeout)
	defer cancel()

	start := time.Now()
	var out outcome
	switch flag.Arg(0) {
	case "add":
		var res types.Result
		res, err = cni.AddNetworkList(ctx, list, rt)
		if err == nil {
			out.Result, err = json.Marshal(res)
		}
	case "check":
		err = cni.CheckNetworkList(ctx, list, rt)
	case "del":
		err = cni.DelNetworkList(ctx, list, rt)
	case "version":
		var infos map[string]interface{}
		infos, err = versions(ctx, cni, list)
		if err == nil {
			out.Result, err = json.Marshal(infos)
		}
	default:
		more, ok := moreCommands[flag.Arg(0)]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown command", flag.Arg(0))
			os.Exit(2)
		}
		err = more(ctx, cni, list, rt)
	}
	out.DurationNs = time.Since(start).Nanoseconds()
	out.OK = err == nil
	if err != nil {
		out.Error = describe(err)
	}
	enc := json.NewEncoder(os.Stdout)
	_ = enc.Encode(out)
}

func versions(ctx context.Context, cni *libcni.CNIConfig, list *libcni.NetworkConfigList) (map[string]interface{}, error) {
	infos := map[string]interface{}{}
	for _, p := range list.Plugins {
		info, err := cni.GetVersionInfo(ctx, p.Network.Type)
		if err != nil {
			return nil, err
		}
		infos[p.Network.Type] = info.SupportedVersions()
	}
	return infos, nil
}

// describe reports the innermost CNI error (code, msg, details) and libcni's full text.
func describe(err error) *errInfo {
	info := &errInfo{Text: err.Error()}
	var typed *types.Error
	if errors.As(err, &typed) {
		info.Typed = true
		info.Code = typed.Code
		info.Msg = typed.Msg
		info.Details = typed.Details
		return info
	}
	inner := err
	for errors.Unwrap(inner) != nil {
		inner = errors.Unwrap(inner)
	}
	info.Msg = inner.Error()
	return info
}
