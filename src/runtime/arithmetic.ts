/**
 * A tiny, safe arithmetic language for the reference runtime's calculator: numbers (`12`, `3.5`, `.5`),
 * `+ - * / %`, parentheses and unary minus, with the usual precedence and left associativity.
 * A recursive-descent parser builds an AST; nothing is ever handed to eval or Function.
 * Pure: no I/O, no clock.
 */

export type BinaryOp = '+' | '-' | '*' | '/' | '%';

export type Expr =
  | { readonly kind: 'num'; readonly value: number }
  | { readonly kind: 'neg'; readonly operand: Expr }
  | { readonly kind: 'bin'; readonly op: BinaryOp; readonly left: Expr; readonly right: Expr };

/** The one error this module throws: `syntax` for text that does not parse, `math` for a value that cannot be computed. */
export class ArithmeticError extends Error {
  override readonly name = 'ArithmeticError';
  constructor(
    readonly reason: 'syntax' | 'math',
    message: string,
    /** Offset in the source where parsing stopped, for `syntax`. */
    readonly position?: number,
  ) {
    super(message);
  }
}

export const MAX_EXPRESSION_LENGTH = 1000;
export const MAX_NESTING = 100;

/** Parses an arithmetic expression, or throws `ArithmeticError('syntax')` saying where and what was expected. */
export function parseArithmetic(source: string): Expr {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new ArithmeticError('syntax', `the expression is longer than ${MAX_EXPRESSION_LENGTH} characters: shorten it`, 0);
  }
  let pos = 0;
  let depth = 0;

  const skip = (): void => {
    while (pos < source.length && /\s/.test(source[pos] ?? '')) pos++;
  };
  const fail = (what: string): never => {
    const found = pos < source.length ? `'${source[pos] ?? ''}'` : 'the end';
    throw new ArithmeticError('syntax', `expected ${what} at position ${pos}, found ${found}`, pos);
  };
  const nest = <T>(fn: () => T): T => {
    if (++depth > MAX_NESTING) {
      throw new ArithmeticError('syntax', `the expression nests deeper than ${MAX_NESTING} levels: simplify it`, pos);
    }
    try {
      return fn();
    } finally {
      depth--;
    }
  };

  const expression = (): Expr =>
    nest(() => {
      let left = term();
      for (;;) {
        skip();
        const op = source[pos];
        if (op !== '+' && op !== '-') return left;
        pos++;
        left = { kind: 'bin', op, left, right: term() };
      }
    });

  const term = (): Expr => {
    let left = unary();
    for (;;) {
      skip();
      const op = source[pos];
      if (op !== '*' && op !== '/' && op !== '%') return left;
      pos++;
      left = { kind: 'bin', op, left, right: unary() };
    }
  };

  const unary = (): Expr =>
    nest(() => {
      skip();
      if (source[pos] === '-') {
        pos++;
        return { kind: 'neg', operand: unary() };
      }
      return primary();
    });

  const primary = (): Expr => {
    skip();
    if (source[pos] === '(') {
      pos++;
      const inner = expression();
      skip();
      if (source[pos] !== ')') fail("')'");
      pos++;
      return inner;
    }
    const match = /^(?:\d+(?:\.\d+)?|\.\d+)/.exec(source.slice(pos));
    if (match === null) return fail('a number or (');
    pos += match[0].length;
    return { kind: 'num', value: Number(match[0]) };
  };

  const tree = expression();
  skip();
  if (pos < source.length) fail('an operator or the end');
  return tree;
}

/** Computes an expression; throws `ArithmeticError('math')` on division or remainder by zero or a non-finite value. */
export function evaluateArithmetic(expr: Expr): number {
  const value = evaluate(expr);
  if (!Number.isFinite(value)) throw new ArithmeticError('math', 'the result is too large to represent');
  return value;
}

function evaluate(expr: Expr): number {
  switch (expr.kind) {
    case 'num':
      return expr.value;
    case 'neg':
      return -evaluate(expr.operand);
    case 'bin': {
      const a = evaluate(expr.left);
      const b = evaluate(expr.right);
      switch (expr.op) {
        case '+':
          return a + b;
        case '-':
          return a - b;
        case '*':
          return a * b;
        case '/':
          if (b === 0) throw new ArithmeticError('math', 'division by zero');
          return a / b;
        case '%':
          if (b === 0) throw new ArithmeticError('math', 'remainder of a division by zero');
          return a % b;
        default: {
          const never: never = expr.op;
          throw new ArithmeticError('syntax', `unknown operator ${String(never)}`);
        }
      }
    }
    default: {
      const never: never = expr;
      throw new ArithmeticError('syntax', `unknown expression ${JSON.stringify(never)}`);
    }
  }
}

/** Parses and computes; the answer is rounded to 12 significant digits so that 0.1+0.2 is 0.3, and -0 is 0. */
export function calculate(source: string): number {
  const exact = evaluateArithmetic(parseArithmetic(source));
  const rounded = Number(exact.toPrecision(12));
  return rounded === 0 ? 0 : rounded;
}

/**
 * The arithmetic expression in a goal such as "What is (19*23)?": the first run of digits, operators, dots,
 * parentheses and spaces that holds a digit and an operator and parses (a trailing full stop is let go).
 */
export function findArithmetic(goal: string): string | undefined {
  for (const match of goal.matchAll(/[0-9+\-*/%().\s]+/g)) {
    const candidate = match[0].trim();
    // Longer runs could never parse; skipping them also keeps the trailing-dot trim below linear.
    if (candidate.length > MAX_EXPRESSION_LENGTH + 1) continue;
    if (!/\d/.test(candidate) || !/[+\-*/%]/.test(candidate)) continue;
    for (const text of [candidate, candidate.replace(/[.\s]+$/, '')]) {
      try {
        parseArithmetic(text);
        return text;
      } catch (err) {
        if (!(err instanceof ArithmeticError)) throw err;
      }
    }
  }
  return undefined;
}
