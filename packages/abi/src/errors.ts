/**
 * Typed errors. Each says what was expected, what was found and where, so that a user can fix
 * the input without reading kvant's source.
 */
export class KvantError extends Error {
  /** A stable machine-readable code, e.g. `E_PRECONDITION`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A kernel was called with params or bindings that break its spec. */
export class KernelArgumentError extends KvantError {
  constructor(
    readonly kernelId: string,
    readonly where: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super('E_KERNEL_ARGUMENT', `${kernelId}: ${where}: expected ${expected}, found ${found}`);
  }
}

/** A precondition of a kernel spec does not hold. */
export class PreconditionError extends KvantError {
  constructor(
    readonly kernelId: string,
    readonly param: string,
    readonly value: number,
    readonly requirement: string,
  ) {
    super('E_PRECONDITION', `${kernelId}: precondition failed: ${requirement} (${param} = ${value})`);
  }
}

/** The runtime cannot run this kernel (not implemented there, or the runtime is unavailable). */
export class UnsupportedError extends KvantError {
  constructor(
    readonly runtime: string,
    readonly what: string,
    readonly reason: string,
  ) {
    super('E_UNSUPPORTED', `${runtime}: ${what} is not supported: ${reason}`);
  }
}

/** A runtime failed (device lost, out of memory, launch failure). */
export class RuntimeFailure extends KvantError {
  constructor(
    readonly runtime: string,
    readonly kind: 'out-of-memory' | 'device-lost' | 'validation' | 'launch' | 'illegal-address' | 'internal',
    readonly kernelId: string | undefined,
    detail: string,
  ) {
    super(
      `E_RUNTIME_${kind.toUpperCase().replace(/-/g, '_')}`,
      `${runtime}: ${kind}${kernelId ? ` in ${kernelId}` : ''}: ${detail}`,
    );
  }
}

/** A value or file has the wrong format: expected one thing, found another. */
export class FormatError extends KvantError {
  constructor(
    readonly where: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super('E_FORMAT', `${where}: expected ${expected}, found ${found}`);
  }
}

/** A caller passed an invalid option or argument. */
export class ConfigError extends KvantError {
  constructor(
    readonly where: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super('E_CONFIG', `${where}: expected ${expected}, found ${found}`);
  }
}

/** A tensor has the wrong shape, dtype or runtime for an operation. */
export class TensorError extends KvantError {
  constructor(
    readonly where: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super('E_TENSOR', `${where}: expected ${expected}, found ${found}`);
  }
}

/** A non-finite value (NaN or Inf) where only finite values are allowed. */
export class NonFiniteError extends KvantError {
  constructor(
    readonly where: string,
    readonly index: number,
    readonly value: number,
  ) {
    super('E_NON_FINITE', `${where}: expected finite values, found ${value} at element ${index}`);
  }
}
