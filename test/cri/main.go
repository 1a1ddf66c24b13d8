// cri is the kubelet's side of the CRI for cni-trace's tests: the runtime.v1 calls the kubelet
// makes to set up and tear down a pod's sandbox (RunPodSandbox, PodSandboxStatus,
// StopPodSandbox, RemovePodSandbox), over containerd's gRPC socket, one call per run. It prints
// one JSON line: the call's outcome, its gRPC code and message on failure, and how long the RPC
// took. Built by test/support/cri.ts.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// pod is what the test says about a pod: the kubelet's PodSandboxConfig in small.
type pod struct {
	Name         string            `json:"name"`
	Namespace    string            `json:"namespace"`
	UID          string            `json:"uid"`
	Attempt      uint32            `json:"attempt"`
	Hostname     string            `json:"hostname"`
	PortMappings []portMapping     `json:"portMappings"`
	Annotations  map[string]string `json:"annotations"`
	Labels       map[string]string `json:"labels"`
}

type portMapping struct {
	Protocol      string `json:"protocol"`
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort"`
	HostIP        string `json:"hostIp"`
}

type outcome struct {
	OK         bool        `json:"ok"`
	Code       string      `json:"code,omitempty"`
	Message    string      `json:"message,omitempty"`
	DurationNs int64       `json:"durationNs"`
	ID         string      `json:"id,omitempty"`
	Status     *podStatus  `json:"status,omitempty"`
	IDs        []string    `json:"ids,omitempty"`
	Ready      interface{} `json:"ready,omitempty"`
}

type podStatus struct {
	State         string   `json:"state"`
	IP            string   `json:"ip"`
	AdditionalIPs []string `json:"additionalIps"`
	NetNS         string   `json:"netns"`
	Pid           int      `json:"pid"`
}

func main() {
	socket := flag.String("socket", "", "containerd's CRI socket")
	id := flag.String("id", "", "pod sandbox id")
	podJSON := flag.String("pod", "", "the pod, as JSON")
	ref := flag.String("image", "", "image reference (image)")
	timeout := flag.Duration("timeout", 2*time.Minute, "the call's deadline (the kubelet's --runtime-request-timeout)")
	flag.Parse()
	if flag.NArg() != 1 || *socket == "" {
		fmt.Fprintln(os.Stderr, "usage: cri --socket PATH [--id ID] [--pod JSON] [--image REF] ready|image|run|status|stop|remove|list")
		os.Exit(2)
	}
	conn, err := grpc.NewClient("unix://"+*socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	img := runtimeapi.NewImageServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var out outcome
	start := time.Now()
	switch flag.Arg(0) {
	case "ready":
		err = waitReady(ctx, rt)
	case "image":
		err = waitImage(ctx, img, *ref)
	case "run":
		var p pod
		if err = json.Unmarshal([]byte(*podJSON), &p); err != nil {
			fmt.Fprintln(os.Stderr, "pod:", err)
			os.Exit(2)
		}
		var res *runtimeapi.RunPodSandboxResponse
		res, err = rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sandboxConfig(p)})
		if err == nil {
			out.ID = res.PodSandboxId
		}
	case "status":
		out.Status, err = sandboxStatus(ctx, rt, *id)
	case "stop":
		_, err = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: *id})
	case "remove":
		_, err = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: *id})
	case "list":
		var res *runtimeapi.ListPodSandboxResponse
		res, err = rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		if err == nil {
			out.IDs = []string{}
			for _, s := range res.Items {
				out.IDs = append(out.IDs, s.Id)
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown command", flag.Arg(0))
		os.Exit(2)
	}
	out.DurationNs = time.Since(start).Nanoseconds()
	out.OK = err == nil
	if err != nil {
		st := status.Convert(err)
		out.Code = st.Code().String()
		out.Message = st.Message()
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

// sandboxConfig is the PodSandboxConfig the kubelet builds for a pod (pkg/kubelet/kuberuntime,
// generatePodSandboxConfig): metadata, hostname, port mappings, annotations, pod namespaces.
func sandboxConfig(p pod) *runtimeapi.PodSandboxConfig {
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:    &runtimeapi.PodSandboxMetadata{Name: p.Name, Namespace: p.Namespace, Uid: p.UID, Attempt: p.Attempt},
		Hostname:    p.Hostname,
		Labels:      p.Labels,
		Annotations: p.Annotations,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_POD, Ipc: runtimeapi.NamespaceMode_POD},
			},
		},
	}
	for _, m := range p.PortMappings {
		proto := runtimeapi.Protocol_TCP
		switch m.Protocol {
		case "UDP", "udp":
			proto = runtimeapi.Protocol_UDP
		case "SCTP", "sctp":
			proto = runtimeapi.Protocol_SCTP
		}
		cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{Protocol: proto, ContainerPort: m.ContainerPort, HostPort: m.HostPort, HostIp: m.HostIP})
	}
	return cfg
}

// sandboxStatus is PodSandboxStatus, verbose: the IPs, and from containerd's info the
// sandbox's pid and the network namespace it made.
func sandboxStatus(ctx context.Context, rt runtimeapi.RuntimeServiceClient, id string) (*podStatus, error) {
	res, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		return nil, err
	}
	st := &podStatus{State: res.Status.State.String(), AdditionalIPs: []string{}}
	if n := res.Status.Network; n != nil {
		st.IP = n.Ip
		for _, a := range n.AdditionalIps {
			st.AdditionalIPs = append(st.AdditionalIPs, a.Ip)
		}
	}
	var info struct {
		Pid         int `json:"pid"`
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct {
					Type string `json:"type"`
					Path string `json:"path"`
				} `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	}
	if raw, ok := res.Info["info"]; ok {
		if err := json.Unmarshal([]byte(raw), &info); err != nil {
			return nil, fmt.Errorf("containerd's verbose info: %w", err)
		}
	}
	st.Pid = info.Pid
	for _, ns := range info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" {
			st.NetNS = ns.Path
		}
	}
	return st, nil
}

// waitReady polls Status until the runtime and its network (a CNI config loaded) are ready,
// as the kubelet does before it runs a pod.
func waitReady(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
	for {
		res, err := rt.Status(ctx, &runtimeapi.StatusRequest{})
		if err == nil {
			ready := 0
			for _, c := range res.Status.Conditions {
				if (c.Type == runtimeapi.RuntimeReady || c.Type == runtimeapi.NetworkReady) && c.Status {
					ready++
				}
			}
			if ready == 2 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return err
			}
			return fmt.Errorf("runtime or network not ready: %v", res.GetStatus().GetConditions())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitImage polls ImageStatus until the CRI plugin sees the image (an import reaches it
// through containerd's events).
func waitImage(ctx context.Context, img runtimeapi.ImageServiceClient, ref string) error {
	for {
		res, err := img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		if err == nil && res.Image != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return err
			}
			return fmt.Errorf("image %s not found", ref)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
