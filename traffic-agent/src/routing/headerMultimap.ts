/**
 * Request headers as rule matching sees them: names case-insensitive, every value of a repeated
 * header kept. Built from HTTP/1 raw headers or from an HTTP/2 header object.
 */

export class HeaderMultimap {
  private readonly values = new Map<string, string[]>();

  /** From `IncomingMessage.rawHeaders`: [name, value, name, value, …]. */
  static fromRaw(raw: readonly string[]): HeaderMultimap {
    const m = new HeaderMultimap();
    for (let i = 0; i + 1 < raw.length; i += 2) m.add(raw[i]!, raw[i + 1]!);
    return m;
  }

  /** From an HTTP/2 header object (pseudo-headers included; Node has already joined cookies). */
  static fromObject(headers: Readonly<Record<string, string | readonly string[] | undefined>>): HeaderMultimap {
    const m = new HeaderMultimap();
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      if (typeof value === 'string') m.add(name, value);
      else for (const v of value) m.add(name, v);
    }
    return m;
  }

  add(name: string, value: string): void {
    const key = name.toLowerCase();
    const list = this.values.get(key);
    if (list) list.push(value);
    else this.values.set(key, [value]);
  }

  /** Every value of `name`, in arrival order; empty when absent. */
  get(name: string): readonly string[] {
    return this.values.get(name.toLowerCase()) ?? [];
  }

  has(name: string): boolean {
    return this.values.has(name.toLowerCase());
  }
}
