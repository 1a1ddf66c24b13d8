/** `cni-trace install` and `uninstall`: the plugin into a bin dir, the node's conflist wrapped and back. */
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fail, usage, type CliCommand } from './command.ts';
import { BACKUP_DIR, keepWrapped, restoreConfDir, runtimeConflist, wrapInConfDir } from './conf-dir.ts';
import { installPlugin, pluginFiles } from './install.ts';

export const install: CliCommand = {
  examples: ['cni-trace install --bin-dir /opt/cni/bin --conf-dir /etc/cni/net.d', 'cni-trace install --bin-dir /opt/cni/bin --conf-dir /etc/cni/net.d --watch'],
  help: `Usage: cni-trace install --bin-dir DIR [--conf-dir DIR [--conflist NAME] [--journal-dir DIR] [--watch]]

Installs the plugin as DIR/cni-trace (atomically, mode 0755): the self-contained executable
built by "npm run build" (dist/cni-trace), so the node needs no Node.js installed.
With --conf-dir, also wraps the conflist the runtime loads there (the lexically first
loadable *.conf/*.conflist/*.json, or NAME), after keeping its exact bytes in
<conf dir>/.cni-trace/. Running it again changes nothing.
With --watch it keeps running and wraps the conflist again whenever another installer
(calico's, cilium's, flannel's) rewrites it — picking up changed delegates — and stops
fighting, with a warning, a watcher that rewrites it back each time.`,
  options: { 'bin-dir': { type: 'string' }, 'conf-dir': { type: 'string' }, conflist: { type: 'string' }, 'journal-dir': { type: 'string' }, watch: { type: 'boolean' } },
  run(values) {
    const binDir = values['bin-dir'] as string | undefined;
    const confDir = values['conf-dir'] as string | undefined;
    const conflist = values.conflist as string | undefined;
    const journalDir = values['journal-dir'] as string | undefined;
    if (!binDir) usage('install', '--bin-dir DIR is required');
    if ((conflist || values.watch || journalDir) && !confDir) usage('install', '--conflist, --journal-dir and --watch need --conf-dir');
    console.log(`installed ${installPlugin(binDir)}`);
    if (!confDir) return;
    const chosen = conflist ? { name: conflist } : runtimeConflist(confDir);
    if ('error' in chosen) fail(`install: ${chosen.error}`);
    const done = wrapInConfDir(confDir, chosen.name, journalDir);
    console.log(done.action === 'wrapped' ? `wrapped ${done.file} (original kept in ${join(confDir, BACKUP_DIR)})` : `${done.file} is already wrapped`);
    if (!values.watch) return;
    console.log(`watching ${confDir}: the conflist is wrapped again whenever it is rewritten (SIGTERM stops)`);
    const stop = keepWrapped({
      confDir, ...(conflist ? { conflist } : {}), ...(journalDir ? { journalDir } : {}),
      log: (line) => console.log(`cni-trace install: ${line}`),
    });
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => { stop(); process.exit(0); });
  },
};

export const uninstall: CliCommand = {
  examples: ['cni-trace uninstall --bin-dir /opt/cni/bin --conf-dir /etc/cni/net.d'],
  help: `Usage: cni-trace uninstall --bin-dir DIR --conf-dir DIR

Puts the original conflist back byte for byte (where it is still wrapped; one an installer
rewrote since is left as it is), removes the backups, DIR/cni-trace and DIR/cni-trace-node.`,
  options: { 'bin-dir': { type: 'string' }, 'conf-dir': { type: 'string' } },
  run(values) {
    const binDir = values['bin-dir'] as string | undefined;
    const confDir = values['conf-dir'] as string | undefined;
    if (!binDir || !confDir) usage('uninstall', '--bin-dir DIR and --conf-dir DIR are required');
    for (const r of restoreConfDir(confDir)) console.log(r.action === 'restored' ? `restored ${r.file}` : `left ${r.file} as it is: ${r.why}`);
    for (const name of pluginFiles()) {
      const plugin = join(binDir, name);
      if (existsSync(plugin)) {
        unlinkSync(plugin);
        console.log(`removed ${plugin}`);
      }
    }
  },
};
