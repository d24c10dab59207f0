/**
 * The relay's TLS certificate and key (RFC 8656 §3.1 TURN over TLS): from PEM files, reloaded without a
 * restart when they change (certificates are renewed every few weeks by ACME clients that rewrite the
 * files in place), or fixed PEM (the self-signed development default). One owner for the material: the
 * listener asks for `current` when it starts and is told of every change; what changes is only applied
 * once the new pair loads as a whole, so a renewal caught half-written keeps serving the old pair.
 */
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import { selfSignedCertificate } from './self-signed.js';

export interface TlsCertificateFiles {
  /** PEM certificate chain, leaf first. */
  certFile: string;
  /** PEM private key of the leaf. */
  keyFile: string;
  /**
   * How often the files are polled for changes, ms. Default 5 000. Polling (fs.watchFile) rather than
   * inotify: it survives the rename-into-place and symlink swaps that certbot and Kubernetes secrets do.
   */
  pollMs?: number;
  logger?: Logger | undefined;
}

export const TLS_CERTIFICATE_DEFAULTS = { pollMs: 5_000 } as const;

export interface RelayCertificateOptions {
  /** PEM certificate file; with `keyFile`, or neither for the self-signed development default. */
  certFile?: string | undefined;
  keyFile?: string | undefined;
  /** Names the self-signed default is made for (DNS names, IPv4 and IPv6 addresses). */
  hosts: readonly string[];
  /** Days the self-signed default is valid. Default 30. */
  selfSignedDays?: number;
  /** Poll interval for the files, ms. Default 5 000. */
  pollMs?: number;
  logger?: Logger | undefined;
}

export type CertificateListener = (context: SecureContextOptions) => void;

export class TlsCertificates {
  private context: SecureContextOptions;
  private readonly listeners = new Set<CertificateListener>();
  private closed = false;
  private readonly onStat = (curr: Stats, prev: Stats) => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size || curr.ino !== prev.ino) this.reload();
  };

  private constructor(
    initial: SecureContextOptions,
    private readonly files: TlsCertificateFiles | undefined,
  ) {
    this.context = initial;
  }

  /**
   * What the relay serves: the operator's files when given (reloaded on change), otherwise a self-signed
   * certificate made for this run, which browsers will not trust (RFC 8656 §3.1 TLS needs a real one in
   * production). Throws when only one file is given or the pair does not load: never start half-configured.
   */
  static forRelay(o: RelayCertificateOptions): TlsCertificates {
    if (o.certFile && o.keyFile)
      return TlsCertificates.fromFiles({
        certFile: o.certFile,
        keyFile: o.keyFile,
        pollMs: o.pollMs,
        logger: o.logger,
      });
    if (o.certFile || o.keyFile)
      throw new Error('TURN over TLS needs both a certificate file and a key file, or neither');
    o.logger?.warn(
      { hosts: o.hosts },
      'TURN over TLS uses a self-signed certificate made for this run; clients will not trust it (development only)',
    );
    return TlsCertificates.fromPem(
      selfSignedCertificate({ hosts: o.hosts, ...(o.selfSignedDays ? { days: o.selfSignedDays } : {}) }),
    );
  }

  /** Fixed material that never changes (the self-signed development default). Throws if it does not load. */
  static fromPem(pair: { cert: string; key: string }): TlsCertificates {
    const context = { cert: pair.cert, key: pair.key };
    createSecureContext(context);
    return new TlsCertificates(context, undefined);
  }

  /**
   * Read the pair now (throws when it does not load: a relay must not start without its certificate),
   * then poll both files and reload on change.
   */
  static fromFiles(files: TlsCertificateFiles): TlsCertificates {
    const certificates = new TlsCertificates(load(files), files);
    const interval = files.pollMs ?? TLS_CERTIFICATE_DEFAULTS.pollMs;
    for (const f of [files.certFile, files.keyFile])
      watchFile(f, { interval, persistent: false }, certificates.onStat);
    return certificates;
  }

  /** The pair in use: pass to `tls.createServer` or `server.setSecureContext`. */
  get current(): SecureContextOptions {
    return this.context;
  }

  /** Called with the new pair after each successful reload; returns the unsubscribe. */
  onChange(listener: CertificateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Re-read both files. A pair that does not load (half-written, key not matching the certificate,
   * unreadable) is logged and the old one kept; the next change tries again. Never throws.
   */
  reload(): boolean {
    if (this.closed || !this.files) return false;
    let next: SecureContextOptions;
    try {
      next = load(this.files);
    } catch (err) {
      this.files.logger?.warn(
        { err, certFile: this.files.certFile, keyFile: this.files.keyFile },
        'TLS certificate change not applied: the pair does not load; keeping the previous one',
      );
      return false;
    }
    if (next.cert === this.context.cert && next.key === this.context.key) return false;
    this.context = next;
    this.files.logger?.info({ certFile: this.files.certFile }, 'TLS certificate reloaded');
    for (const l of this.listeners) {
      try {
        l(next);
      } catch (err) {
        this.files.logger?.warn({ err }, 'TLS certificate listener failed');
      }
    }
    return true;
  }

  /** Idempotent: stops polling the files and drops the listeners. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    if (this.files) for (const f of [this.files.certFile, this.files.keyFile]) unwatchFile(f, this.onStat);
  }
}

/** Both files, checked by building a secure context (it fails on bad PEM and on a key that does not match). */
function load(files: TlsCertificateFiles): SecureContextOptions {
  const context = { cert: readFileSync(files.certFile, 'utf8'), key: readFileSync(files.keyFile, 'utf8') };
  createSecureContext(context);
  return context;
}
