// Splitting the input text into records, without parsing it all at once: each record is a span
// [start, end) of the text and the 1-based line it starts on. The span is the record's data as
// written (an NDJSON line without its "\n" or "\r\n", as the CLI reads it; an array element
// without the whitespace around it). Whether a record is JSON is decided per record by the
// caller (the worker asks the core's checkJson), so a bad record is reported on its own line and
// a 100 MB file never becomes one giant object.

const NL = 10,
  CR = 13,
  SPACE = 32,
  TAB = 9;
const QUOTE = 34,
  BACKSLASH = 92,
  COMMA = 44;
const OPEN_BRACE = 123,
  CLOSE_BRACE = 125,
  OPEN_BRACKET = 91,
  CLOSE_BRACKET = 93;

const isSpace = (c) => c === SPACE || c === NL || c === CR || c === TAB;

/**
 * 'array' or 'ndjson'. A text whose first value starts with '[' is a JSON array, unless its first
 * line is a complete JSON value on its own followed by more lines (NDJSON of arrays).
 * `isJson(text)` says whether a text is one JSON value (the worker passes the core's checkJson).
 */
export function detectFormat(text, isJson) {
  let i = 0;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== OPEN_BRACKET) return 'ndjson';
  const nl = text.indexOf('\n', i);
  if (nl < 0) return 'array';
  // "[" or "[{...}," on the first line: a multi-line array.
  if (!isJson(text.slice(i, nl))) return 'array';
  return text.slice(nl + 1).trim() === '' ? 'array' : 'ndjson';
}

/**
 * One record per line: the line without its "\n" or "\r\n". Blank lines (only whitespace, as
 * String.prototype.trim sees it, like the CLI) are skipped.
 */
export class LineScanner {
  constructor(text) {
    this.text = text;
    this.pos = 0;
    this.lineNo = 0;
    this.start = 0;
    this.end = 0;
    this.line = 0;
    this.error = null; // scanners share the interface; lines never fail to split
  }

  next() {
    const t = this.text;
    while (this.pos < t.length) {
      let nl = t.indexOf('\n', this.pos);
      if (nl < 0) nl = t.length;
      const start = this.pos;
      this.pos = nl + 1;
      this.lineNo++;
      let i = start;
      while (i < nl && isSpace(t.charCodeAt(i))) i++;
      if (i === nl || (t.charCodeAt(i) > 127 && t.slice(i, nl).trim() === '')) continue;
      this.start = start;
      this.end = nl > start && t.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
      this.line = this.lineNo;
      return true;
    }
    return false;
  }

  get fraction() {
    return this.text.length ? Math.min(1, this.pos / this.text.length) : 1;
  }
}

/**
 * The elements of a top-level JSON array. Brackets and strings are tracked only to find the
 * commas between elements; each element is checked as JSON later (the core's checkJson). Structural problems
 * (an unclosed array, text after it, an empty element) are reported through `error` as
 * { line, message } and scanning goes on where it can.
 */
export class ArrayScanner {
  constructor(text) {
    this.text = text;
    this.lineNo = 1;
    this.start = 0;
    this.end = 0;
    this.line = 0;
    this.error = null;
    this.done = false;
    this.count = 0;
    let i = 0;
    while (i < text.length && isSpace(text.charCodeAt(i))) {
      if (text.charCodeAt(i) === NL) this.lineNo++;
      i++;
    }
    this.pos = i + 1; // past '['
  }

  get fraction() {
    return this.text.length ? Math.min(1, this.pos / this.text.length) : 1;
  }

  /** true: a record span (or, with `error` set, a problem at `error.line`); false: the end. */
  next() {
    this.error = null;
    if (this.done) return this.takeTrailing();
    const t = this.text;
    const n = t.length;
    let i = this.pos;
    // Skip the whitespace before the element.
    while (i < n && isSpace(t.charCodeAt(i))) {
      if (t.charCodeAt(i) === NL) this.lineNo++;
      i++;
    }
    const start = i;
    const line = this.lineNo;
    let depth = 0;
    for (; i < n; i++) {
      const c = t.charCodeAt(i);
      if (c === QUOTE) {
        // Jump to the closing quote: one not preceded by an odd number of backslashes.
        let j = i;
        for (;;) {
          j = t.indexOf('"', j + 1);
          if (j < 0) {
            j = n;
            break;
          }
          let b = j - 1;
          while (t.charCodeAt(b) === BACKSLASH) b--;
          if ((j - 1 - b) % 2 === 0) break;
        }
        i = j;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        depth++;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (depth > 0) depth--;
        else if (c === CLOSE_BRACKET) break; // the end of the top-level array
      } else if (c === COMMA && depth === 0) {
        break;
      } else if (c === NL) {
        this.lineNo++;
      }
    }
    let end = i;
    while (end > start && isSpace(t.charCodeAt(end - 1))) end--;
    const terminator = i < n ? t.charCodeAt(i) : -1;
    this.pos = i + 1;
    if (terminator !== COMMA) {
      this.done = true;
      if (terminator === -1) {
        this.error = { line: this.lineNo, message: 'the JSON array is not closed with "]"' };
        if (end > start) this.error.span = { start, end, line };
        return true;
      }
      // After the closing ']' only whitespace may follow.
      let k = i + 1;
      let trailingLine = this.lineNo;
      while (k < n && isSpace(t.charCodeAt(k))) {
        if (t.charCodeAt(k) === NL) trailingLine++;
        k++;
      }
      if (k < n)
        this.trailing = { line: trailingLine, message: 'unexpected text after the closing "]" of the JSON array' };
      if (end === start) {
        if (this.count === 0) return this.takeTrailing(); // "[]"
        this.error = { line, message: 'empty array element (a trailing comma?)' };
        return true;
      }
    } else if (end === start) {
      this.count++;
      this.error = { line, message: 'empty array element' };
      return true;
    }
    this.count++;
    this.start = start;
    this.end = end;
    this.line = line;
    return true;
  }

  takeTrailing() {
    if (!this.trailing) return false;
    this.error = this.trailing;
    this.trailing = null;
    return true;
  }
}

/**
 * The scanner for `format` ('auto', 'ndjson' or 'array') over `text`, and the format used.
 * `isJson` is detectFormat's.
 */
export function scannerFor(text, format, isJson) {
  const used = format === 'auto' || !format ? detectFormat(text, isJson) : format;
  if (used === 'array') {
    let i = 0;
    while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== OPEN_BRACKET) {
      throw new Error('the input does not start with "[", so it is not a JSON array; choose NDJSON or Auto-detect');
    }
    return { scanner: new ArrayScanner(text), format: 'array' };
  }
  return { scanner: new LineScanner(text), format: 'ndjson' };
}

/** UTF-8 byte length of a string, without encoding it. */
export function utf8Length(s) {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a surrogate pair: 4 bytes for 2 UTF-16 units
      i++;
    } else bytes += 2; // 3 bytes (a lone surrogate becomes U+FFFD, also 3)
  }
  return bytes;
}
