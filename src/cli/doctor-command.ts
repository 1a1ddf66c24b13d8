/** `cni-trace doctor`: the node's set-up checked, with a fix for each failure. */
import { tracesEndpoint } from '../agent/config.ts';
import { colourWanted, NODE_DEFAULTS, type CliCommand } from './command.ts';
import { doctor as runChecks, renderChecks } from './doctor.ts';

export const doctor: CliCommand = {
  examples: ['cni-trace doctor', 'cni-trace doctor --bin-dir /host/opt/cni/bin --conf-dir /host/etc/cni/net.d --json'],
  help: `Usage: cni-trace doctor [--bin-dir DIR]... [--conf-dir DIR] [--journal DIR] [--state-dir DIR]
                        [--endpoint URL | --no-collector] [--json]

Checks this node's set-up and says how to fix what is wrong: the plugin executable is
present and runs; the conflist the runtime loads is wrapped and valid; every delegate and
IPAM plugin resolves in the bin dirs; the journal directory is safe and has room; the agent
runs and how far it lags; the collector answers OTLP. Exits 1 when a check fails.
Defaults: --bin-dir ${NODE_DEFAULTS.binDir}, --conf-dir ${NODE_DEFAULTS.confDir}, --journal ${NODE_DEFAULTS.journal},
--state-dir ${NODE_DEFAULTS.stateDir}, --endpoint $OTEL_EXPORTER_OTLP_ENDPOINT or http://localhost:4318.`,
  options: {
    'bin-dir': { type: 'string', multiple: true }, 'conf-dir': { type: 'string' }, journal: { type: 'string' }, 'state-dir': { type: 'string' },
    endpoint: { type: 'string' }, 'no-collector': { type: 'boolean' }, json: { type: 'boolean' },
  },
  async run(values) {
    const checks = await runChecks({
      binDirs: ((values['bin-dir'] as string[] | undefined) ?? [NODE_DEFAULTS.binDir]).flatMap((d) => d.split(':')),
      confDir: (values['conf-dir'] as string | undefined) ?? NODE_DEFAULTS.confDir,
      journal: (values.journal as string | undefined) ?? NODE_DEFAULTS.journal,
      stateDir: (values['state-dir'] as string | undefined) ?? NODE_DEFAULTS.stateDir,
      tracesUrl: values['no-collector'] ? null : tracesEndpoint(typeof values.endpoint === 'string' ? { endpoint: values.endpoint } : {}),
    });
    console.log(values.json ? JSON.stringify({ ok: checks.every((c) => c.status !== 'fail'), checks }, null, 2) : renderChecks(checks, colourWanted()));
    return checks.some((c) => c.status === 'fail') ? 1 : 0;
  },
};
