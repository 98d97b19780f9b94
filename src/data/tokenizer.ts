/**
 * Tokenizers for character-level models. CharTokenizer maps Unicode code points (not UTF-16
 * units, so any script and emoji round-trip) to ids; ByteTokenizer maps UTF-8 bytes, vocab 256,
 * and decodes incrementally so a stream of ids never splits a character.
 */
export interface Tokenizer {
  readonly kind: 'char' | 'byte';
  readonly vocabSize: number;
  /** Text to token ids. */
  encode(text: string): Int32Array;
  /** Token ids to text. */
  decode(ids: ArrayLike<number>): string;
  /** A decoder for streaming: feed ids one at a time, get the text completed so far. */
  streamDecoder(): (id: number) => string;
  /** What checkpoints store to rebuild the tokenizer ({@link tokenizerFromJSON}). */
  toJSON(): TokenizerJSON;
}

/** A tokenizer as stored in a checkpoint's config.json. */
export type TokenizerJSON = { kind: 'char'; chars: string[] } | { kind: 'byte' };

export class CharTokenizer implements Tokenizer {
  readonly kind = 'char';
  readonly chars: readonly string[];
  private readonly index: Map<string, number>;

  constructor(chars: readonly string[]) {
    const seen = new Set<string>();
    for (const c of chars) {
      if ([...c].length !== 1) throw new Error(`CharTokenizer: vocabulary entry ${JSON.stringify(c)} is not a single character`);
      if (seen.has(c)) throw new Error(`CharTokenizer: duplicate vocabulary entry ${JSON.stringify(c)}`);
      seen.add(c);
    }
    this.chars = [...chars];
    this.index = new Map(this.chars.map((c, i) => [c, i]));
  }

  /** The sorted set of characters of a text (as nanoGPT's shakespeare_char). */
  static fromText(text: string): CharTokenizer {
    if (text.length === 0) throw new Error('CharTokenizer.fromText: the text is empty');
    return new CharTokenizer([...new Set(text)].sort((a, b) => (a.codePointAt(0)! - b.codePointAt(0)!)));
  }

  get vocabSize(): number { return this.chars.length; }

  encode(text: string): Int32Array {
    const out = new Int32Array([...text].length);
    let i = 0;
    for (const c of text) {
      const id = this.index.get(c);
      if (id === undefined) {
        throw new Error(`character ${JSON.stringify(c)} (U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}) is not in the vocabulary`);
      }
      out[i++] = id;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) s += this.charOf(ids[i]);
    return s;
  }

  streamDecoder(): (id: number) => string {
    return (id) => this.charOf(id);
  }

  private charOf(id: number): string {
    const c = this.chars[id];
    if (c === undefined) throw new Error(`token id ${id} is outside the vocabulary (0..${this.chars.length - 1})`);
    return c;
  }

  toJSON(): TokenizerJSON { return { kind: 'char', chars: [...this.chars] }; }
}

export class ByteTokenizer implements Tokenizer {
  readonly kind = 'byte';
  readonly vocabSize = 256;

  encode(text: string): Int32Array {
    return Int32Array.from(new TextEncoder().encode(text));
  }

  decode(ids: ArrayLike<number>): string {
    return new TextDecoder().decode(Uint8Array.from(ids, (id) => this.checkByte(id)));
  }

  streamDecoder(): (id: number) => string {
    const decoder = new TextDecoder();
    return (id) => decoder.decode(Uint8Array.of(this.checkByte(id)), { stream: true });
  }

  private checkByte(id: number): number {
    if (!(Number.isInteger(id) && id >= 0 && id < 256)) throw new Error(`token id ${id} is not a byte`);
    return id;
  }

  toJSON(): TokenizerJSON { return { kind: 'byte' }; }
}

/** Rebuilds a tokenizer from its JSON form (an error names what is wrong). */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  const j = json as Partial<TokenizerJSON> | null;
  if (j?.kind === 'byte') return new ByteTokenizer();
  if (j?.kind === 'char' && Array.isArray((j as { chars?: unknown }).chars)) return new CharTokenizer((j as { chars: string[] }).chars);
  throw new Error('invalid tokenizer description (expected {kind: "char", chars: [...]} or {kind: "byte"})');
}
