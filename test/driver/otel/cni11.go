// CNI 1.1's GC and STATUS, which libcni has since v1.2 (GCNetworkList, GetStatusNetworkList):
// only this upstream build of the driver offers them, as a runtime of today issues them.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"flag"
	"github.com/containernetworking/cni/libcni"
)

var validAttachments = flag.String("valid-attachments", "", `gc: the attachments the runtime still holds, as JSON [{"containerID":…,"ifname":…}]`)

func init() {
	moreCommands["gc"] = func(ctx context.Context, cni *libcni.CNIConfig, list *libcni.NetworkConfigList, _ *libcni.RuntimeConf) error {
		args := &libcni.GCArgs{}
		if *validAttachments != "" {
			if err := json.Unmarshal([]byte(*validAttachments), &args.ValidAttachments); err != nil {
				return fmt.Errorf("valid-attachments: %w", err)
			}
		}
		return cni.GCNetworkList(ctx, list, args)
	}
	moreCommands["status"] = func(ctx context.Context, cni *libcni.CNIConfig, list *libcni.NetworkConfigList, _ *libcni.RuntimeConf) error {
		return cni.GetStatusNetworkList(ctx, list)
	}
}
