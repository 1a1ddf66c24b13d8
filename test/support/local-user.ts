/**
 * An unprivileged local user for the attacker's side of a test: created with a unique name,
 * commands run as it through setpriv (its uid, gid, no supplementary groups, no capabilities),
 * removed again by `remove()`, also when the test failed. Root only.
 */
import { randomBytes } from 'node:crypto';
import { execa, type Result } from 'execa';

export class LocalUser {
  readonly name: string;
  uid = -1;
  gid = -1;

  private constructor(name: string) {
    this.name = name;
  }

  /** Creates the user (system account, no home, no login shell). */
  static async create(): Promise<LocalUser> {
    const user = new LocalUser(`ctatk${randomBytes(3).toString('hex')}`);
    await execa('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', user.name]);
    const id = await execa('id', ['-u', user.name]);
    const gid = await execa('id', ['-g', user.name]);
    user.uid = Number(id.stdout.trim());
    user.gid = Number(gid.stdout.trim());
    return user;
  }

  /** Runs `cmd args` as this user; never rejects (the result says how it ended). */
  run(cmd: string, args: readonly string[], opts: { input?: string } = {}): Promise<Result> {
    return execa('setpriv', ['--reuid', String(this.uid), '--regid', String(this.gid), '--clear-groups', '--inh-caps=-all', '--', cmd, ...args], {
      reject: false, ...(opts.input !== undefined ? { input: opts.input } : {}),
    }) as Promise<Result>;
  }

  /** Removes the user and its group; never throws. */
  async remove(): Promise<void> {
    if (this.uid < 0) return;
    await execa('userdel', [this.name], { reject: false });
    await execa('groupdel', [this.name], { reject: false });
  }
}
