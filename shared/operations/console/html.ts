/**
 * HTML built so that every value is escaped: the `html` template escapes each interpolated value
 * unless it is markup this module made (`Markup`). Values come from other systems (names, messages,
 * payloads), so nothing reaches a page unescaped by accident: to put markup in, it has to be made
 * with `html` itself.
 */

/** Markup that is already safe: made by `html`, never from a plain string. */
export class Markup {
  private constructor(readonly text: string) {}

  /** Only this module makes markup from text. */
  static trusted(text: string): Markup {
    return new Markup(text);
  }

  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Text made safe for element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

export type HtmlValue = Markup | string | number | boolean | undefined | null | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === undefined || value === null || value === false) return '';
  if (value instanceof Markup) return value.text;
  if (Array.isArray(value)) return (value as readonly HtmlValue[]).map(render).join('');
  return escapeHtml(String(value));
}

/** The template tag: literal parts are markup, every `${value}` is escaped (arrays joined). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Markup {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return Markup.trusted(out);
}

/** Markup joined with a separator (itself markup). */
export function joinMarkup(items: readonly Markup[], separator: Markup = html``): Markup {
  return Markup.trusted(items.map((m) => m.text).join(separator.text));
}
