/** The podman harness's types and names (test/support/podman.ts). */

/** Name under which the busybox image is imported into each sandbox. */
export const BUSYBOX_IMAGE = 'localhost/cnitrace-busybox:latest';

/** Directory name prefix of sandbox temp roots (under os.tmpdir()). */
export const SANDBOX_PREFIX = 'cnitrace-podman-';

export const NETNS_DIR = '/run/netns';
export const CNI_RESULTS_DIR = '/var/lib/cni/results';
export const CNI_HOST_LOCAL_DIR = '/var/lib/cni/networks';
export const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
export const BUSYBOX = '/bin/busybox';
/** Network names podman accepts (containers/common libnetwork/types.NameRegex). */
export const NETWORK_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Result of one podman invocation. `code` is -1 when podman died from a signal or could not start. */
export interface RunResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Options for {@link PodmanSandbox.run}. */
export interface RunOptions {
  /** Kill podman (SIGKILL) after this many ms; default 120000. */
  timeoutMs?: number;
  /** Written to podman's stdin (stdin is closed either way). */
  input?: string;
  /** Extra environment variables for this invocation. */
  env?: Record<string, string>;
  /** Throw (with full output in the message) on a non-zero exit; default false. */
  check?: boolean;
}

/** Options for {@link PodmanSandbox.runContainer}. */
export interface RunContainerOptions extends RunOptions {
  /** Extra `podman run` arguments placed before the image, e.g. `['-p', '8080:80']`. */
  podmanArgs?: string[];
  /** Image to run; default {@link BUSYBOX_IMAGE}. */
  image?: string;
}

/** Paths inside a sandbox's temp root. */
export interface SandboxPaths {
  /** The temp root itself; everything below is removed by cleanup. */
  root: string;
  /** CNI network config dir (podman's network_config_dir). */
  netDir: string;
  /** containers.conf used via CONTAINERS_CONF. */
  containersConf: string;
  /** storage.conf used via CONTAINERS_STORAGE_CONF. */
  storageConf: string;
  /** Image/container storage (graphroot, `--root`). */
  graphRoot: string;
  /** Storage run state (`--runroot`). */
  runRoot: string;
  /** libpod tmp dir (`--tmpdir`): container state, exit files, file locks. */
  libpodTmp: string;
  /** TMPDIR for podman (image copy scratch space). */
  tmp: string;
  /** podman events log (events_logfile_path). */
  eventsLog: string;
  /** Free directory for the test's own files, e.g. host-local `dataDir`. */
  scratch: string;
}

/** Options for {@link createPodmanSandbox}. */
export interface PodmanSandboxOptions {
  /** CNI plugin dirs searched by podman (containers.conf `cni_plugin_dirs`), in order. */
  binDirs: string[];
  /**
   * The network config list written as `<netDir>/<name>.conflist`. Its network
   * name and bridge names must be unique among concurrently live sandboxes
   * (use a random suffix): cleanup deletes bridges and host-local lease dirs
   * by name. A function
   * receives the sandbox paths, so it can place e.g. host-local's `dataDir`
   * inside the temp root.
   */
  conflist: object | ((paths: SandboxPaths) => object);
  /** Import {@link BUSYBOX_IMAGE}; default true. */
  buildImage?: boolean;
  /** containers.conf `default_ulimits`; default `nofile=1024:1024`, `nproc=4096:4096` (see quirks in the doc comment of {@link createPodmanSandbox}). */
  ulimits?: string[];
  /** Further host links to delete on cleanup if they did not exist at creation. */
  trackLinks?: string[];
  /**
   * Restore net.ipv4.ip_forward to 0 on cleanup if it was 0 at creation and no
   * other live sandbox exists (see module doc). Default false: CNI users outside
   * this harness cannot be detected and might rely on forwarding.
   */
  restoreIpForward?: boolean;
  /** Parent dir of the temp root; default os.tmpdir(). */
  tmpParent?: string;
}

/** What {@link PodmanSandbox.cleanup} did. `errors` is empty when everything went well. */
export interface CleanupReport {
  removedContainers: string[];
  deletedNetns: string[];
  deletedLinks: string[];
  unmounted: string[];
  removedCniCache: string[];
  /** `iptables`/`ip6tables` nat chains of the portmap plugin that were removed. */
  removedIptablesChains: string[];
  restoredIpForward: boolean;
  removedRoot: boolean;
  errors: string[];
}

/** A podman instance confined to one temp root. Create with {@link createPodmanSandbox}. */
export interface PodmanSandbox {
  /** Sandbox paths (root, netDir, graphRoot, ...). */
  readonly paths: SandboxPaths;
  /** Name of the network from `opts.conflist`. */
  readonly networkName: string;
  /** Image tag usable with `run`, normally {@link BUSYBOX_IMAGE}. */
  readonly image: string;
  /** Environment passed to podman (process.env plus CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, TMPDIR). */
  readonly env: NodeJS.ProcessEnv;
  /** Global flags put before every podman subcommand (`--root`, `--runroot`, `--storage-driver vfs`, ...). */
  readonly globalArgs: readonly string[];
  /** Runs `podman <globalArgs> <args>`. Never throws unless `opts.check` is set. */
  run(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Runs `podman run --rm --pull=never --network <networkName> [podmanArgs] <image> <cmd...>`. */
  runContainer(networkName: string, cmd: string[], opts?: RunContainerOptions): Promise<RunResult>;
  /** Writes another conflist into the sandbox's netDir; returns its network name. Its bridges are tracked for cleanup. */
  addConflist(conflist: object): string;
  /**
   * Removes the sandbox's containers, leftover netns / links / CNI cache files,
   * unmounts anything under the temp root and deletes it. Idempotent (later
   * calls return the first report) and never throws: check `report.errors`.
   */
  cleanup(): Promise<CleanupReport>;
}

/** Persisted in `<root>/sandbox.json`; lets cleanup (and the stale-sandbox reaper) know what is ours. */
export interface SandboxState {
  pid: number;
  createdAt: string;
  networks: string[];
  /** Links that did not exist at creation and are deleted at cleanup if present. */
  links: string[];
  /** Names under /run/netns at creation. */
  netnsBefore: string[];
  /** host-local lease dirs (/var/lib/cni/networks/<net>) that did not exist at creation. */
  hostLocalDirs: string[];
  ipForwardBefore: string | null;
  restoreIpForward: boolean;
  /** Per binary (iptables, ip6tables): did portmap's CNI-HOSTPORT-DNAT chain exist at creation? null = binary unusable. */
  portmapChainsBefore: Record<string, boolean | null>;
}
