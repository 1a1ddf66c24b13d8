/** A self-signed certificate for 127.0.0.1 (openssl), for a test's https collector. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes key.pem and cert.pem into `dir`; returns their paths and contents. */
export function selfSignedCert(dir: string): { keyPath: string; certPath: string; key: Buffer; cert: Buffer } {
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=cni-trace unit collector', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { keyPath, certPath, key: readFileSync(keyPath), cert: readFileSync(certPath) };
}
