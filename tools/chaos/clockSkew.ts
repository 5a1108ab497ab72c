/**
 * Preloaded (`node --require clockSkew.js`) into a Functions host process the chaos harness
 * starts with a skewed clock: `Date.now()`, `new Date()` and `Date()` run CHAOS_CLOCK_OFFSET_MS
 * ahead (or behind, when negative) of the machine's clock, as on a server whose clock drifted.
 * Timers (setTimeout) are not affected, only what the code reads as the time; dates built from
 * a value (`new Date(x)`) are unchanged, and `instanceof Date` still holds.
 */
const offset = Number(process.env.CHAOS_CLOCK_OFFSET_MS ?? 0);

if (Number.isFinite(offset) && offset !== 0) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  const skewedNow = (): number => realNow() + offset;
  globalThis.Date = new Proxy(RealDate, {
    construct(target, args, newTarget) {
      return Reflect.construct(target, args.length === 0 ? [skewedNow()] : args, newTarget) as object;
    },
    apply() {
      return new RealDate(skewedNow()).toString();
    },
    get(target, property, receiver) {
      if (property === 'now') return skewedNow;
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}
