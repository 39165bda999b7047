/**
 * Reading and checking DKIM private keys named in the configuration
 * (`dkim[].privateKeyFile`). The loader calls this for every key so that a
 * missing, unreadable or weak key stops the start (and `sluice
 * config-check`) with a message naming the key; the delivery worker calls
 * it again to get the key objects it signs with. The configuration itself
 * holds only the path: it is frozen plain data, and a frozen KeyObject
 * breaks (it caches its details on itself lazily).
 *
 * Key material never leaves this module except inside a KeyObject, which
 * prints and serialises as an empty object; error messages name the file,
 * never its content.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { DkimKeyConfig } from './config.js';
import type { DkimAlgorithm } from './schema.js';

/** RFC 8301 §3.2: signers MUST use RSA keys of at least 1024 bits; 2048 is today's floor. */
export const MIN_RSA_BITS = 2048;

/** A key ready to sign with. */
export interface DkimKey {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  /** Header names to sign when present, lower case. */
  headers: readonly string[];
  privateKey: KeyObject;
}

/** What `readDkimKey` needs: a configured key, its algorithm possibly still to be derived. */
export type DkimKeyEntry = Omit<DkimKeyConfig, 'algorithm'> & { algorithm?: DkimAlgorithm };

export type DkimKeyResult =
  | { ok: true; key: DkimKey }
  | { ok: false; field: 'privateKeyFile' | 'algorithm' | 'headers'; problem: string };

/** Reads `entry.privateKeyFile` and checks it; a problem names the field at fault. */
export function readDkimKey(
  entry: Omit<DkimKeyConfig, 'algorithm'> & { algorithm?: DkimAlgorithm },
): DkimKeyResult {
  if (!entry.headers.some((h) => h.toLowerCase() === 'from')) {
    // RFC 6376 §5.4: the From field MUST be signed.
    return { ok: false, field: 'headers', problem: 'must include From' };
  }
  let pem: Buffer;
  try {
    pem = readFileSync(entry.privateKeyFile);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return {
      ok: false,
      field: 'privateKeyFile',
      problem: `cannot read ${entry.privateKeyFile} (${code})`,
    };
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    // OpenSSL's reason says nothing useful and must not echo the content.
    return {
      ok: false,
      field: 'privateKeyFile',
      problem: `${entry.privateKeyFile} does not hold a PEM private key (unencrypted PKCS#8 or PKCS#1)`,
    };
  }
  const keyAlgorithm = algorithmOf(privateKey);
  if (typeof keyAlgorithm !== 'string') {
    return {
      ok: false,
      field: 'privateKeyFile',
      problem: `${entry.privateKeyFile}: ${keyAlgorithm.problem}`,
    };
  }
  if (entry.algorithm && entry.algorithm !== keyAlgorithm) {
    return {
      ok: false,
      field: 'algorithm',
      problem: `"${entry.algorithm}" does not match the key in ${entry.privateKeyFile}, which is for ${keyAlgorithm}`,
    };
  }
  return {
    ok: true,
    key: {
      domain: entry.domain.toLowerCase(),
      selector: entry.selector,
      algorithm: keyAlgorithm,
      headers: entry.headers.map((h) => h.toLowerCase()),
      privateKey,
    },
  };
}

function algorithmOf(key: KeyObject): DkimAlgorithm | { problem: string } {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519-sha256';
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      return { problem: `an RSA key of ${bits} bits is too weak; use at least ${MIN_RSA_BITS}` };
    }
    return 'rsa-sha256';
  }
  return {
    problem: `a key of type ${key.asymmetricKeyType ?? 'unknown'} cannot sign DKIM; use RSA (at least ${MIN_RSA_BITS} bits) or Ed25519`,
  };
}
