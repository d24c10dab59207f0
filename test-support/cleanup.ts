/** Per-test resources: register each as it is opened; after each test all are closed, last opened first. */
import { afterEach } from 'vitest';

export type Defer = <T>(resource: T, close: (resource: T) => unknown) => T;

/** Call once at the top of a test file; returns `defer(resource, close)`, which hands `resource` back. */
export function closeAfterEach(): Defer {
  const closers: Array<() => unknown> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  return (resource, close) => {
    closers.push(() => close(resource));
    return resource;
  };
}
