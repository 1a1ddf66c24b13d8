/**
 * A sandbox ("pause") image made here, since no registry is reachable: busybox from
 * busybox-static as the whole root file system, an entrypoint that waits until it is stopped,
 * written as an OCI image layout in a tar that `ctr images import` takes.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

export const BUSYBOX = '/bin/busybox';

/** What the image runs: the kubelet's pause in one line of sh (exits on TERM, else waits). */
const PAUSE = ['/bin/busybox', 'sh', '-c', 'trap "exit 0" TERM INT; while :; do /bin/busybox sleep 3600 & wait; done'];

/** Go's GOARCH for this machine's architecture (what the image config must name). */
function goArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
}

function blob(dir: string, data: Buffer): { digest: string; size: number } {
  const hex = createHash('sha256').update(data).digest('hex');
  writeFileSync(join(dir, 'blobs/sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** Writes `<work>/sandbox-image.tar` holding the image named `ref`; returns the tar's path. */
export async function buildSandboxImage(work: string, ref: string): Promise<string> {
  const rootfs = join(work, 'rootfs');
  const layout = join(work, 'layout');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'run']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  mkdirSync(join(layout, 'blobs/sha256'), { recursive: true });
  const layerTar = join(work, 'layer.tar');
  await execa('tar', ['--numeric-owner', '--owner=0', '--group=0', '--sort=name', '--mtime=@0', '-C', rootfs, '-cf', layerTar, '.']);
  const layer = blob(layout, readFileSync(layerTar));
  const config = blob(layout, Buffer.from(JSON.stringify({
    architecture: goArch(), os: 'linux',
    config: { Entrypoint: PAUSE, WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  })));
  const manifest = blob(layout, Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  })));
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest,
      platform: { architecture: goArch(), os: 'linux' },
      annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': ref.split(':').pop()! },
    }],
  }));
  const out = join(work, 'sandbox-image.tar');
  await execa('tar', ['-C', layout, '-cf', out, 'oci-layout', 'index.json', 'blobs']);
  return out;
}
