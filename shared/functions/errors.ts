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
