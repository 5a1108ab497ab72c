/**
 * Failures a message or request can never recover from by retrying. Use cases throw these;
 * the trigger adapters record them in the error log (messages) or answer problem+json (HTTP).
 * Anything else is treated as transient: thrown again so Service Bus redelivers.
 */
export class BusinessError extends Error {
  constructor(
    message: string,
    readonly options: {
      category?: 'Business' | 'Validation';
      /** The business key a person searches for: invoice number, proposal id, actual id. */
      reference?: string;
      /** HTTP status when this surfaces through a route: 400, 404, 405, 409. */
      status?: number;
    } = {},
  ) {
    super(message);
    this.name = 'BusinessError';
  }

  get category(): 'Business' | 'Validation' {
    return this.options.category ?? 'Business';
  }

  get status(): number {
    return this.options.status ?? 409;
  }
}

export class NotFoundError extends BusinessError {
  constructor(message: string, reference?: string) {
    super(message, { status: 404, reference, category: 'Business' });
    this.name = 'NotFoundError';
  }
}

export class ValidationError extends BusinessError {
  constructor(message: string, reference?: string) {
    super(message, { status: 400, reference, category: 'Validation' });
    this.name = 'ValidationError';
  }
}

/**
 * A guarded write lost a race: a row changed between read and write. Use cases that re-read
 * everything they write can simply run again (`retryOnConflict`); the integration's own
 * write-backs (accounting details onto actuals) touch other fields, so a second run succeeds.
 */
export class ConcurrencyConflict extends BusinessError {
  constructor(message: string, reference?: string) {
    super(message, { status: 409, reference, category: 'Business' });
    this.name = 'ConcurrencyConflict';
  }
}

/** Run `work` again (up to `attempts` times in all) while it fails with a ConcurrencyConflict. */
export async function retryOnConflict<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof ConcurrencyConflict) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt + Math.floor(Math.random() * 20)));
    }
  }
}
