import t from 'tap';
import fc from 'fast-check';
import {
  ArithmeticError,
  calculate,
  evaluateArithmetic,
  findArithmetic,
  parseArithmetic,
  type BinaryOp,
  type Expr,
} from '../../src/runtime/arithmetic.js';

function syntaxError(source: string): ArithmeticError {
  try {
    parseArithmetic(source);
  } catch (err) {
    if (err instanceof ArithmeticError) return err;
    throw err;
  }
  throw new Error(`'${source}' parsed`);
}

t.test('computes with the usual precedence, left associativity and unary minus', async (t) => {
  const cases: [string, number][] = [
    ['19*23', 437],
    ['(19*23)', 437],
    ['1+2*3', 7],
    ['(1+2)*3', 9],
    ['2-3-4', -5],
    ['64/4/2', 8],
    ['-2*3', -6],
    ['--2', 2],
    ['2--3', 5],
    ['2*-3', -6],
    ['-(2+3)', -5],
    ['10 % 4', 2],
    ['7/2', 3.5],
    ['.5 + 1.25', 1.75],
    [' 2 * ( 3 + ( 4 - 1 ) ) ', 12],
    ['0.1+0.2', 0.3],
    ['-0', 0],
  ];
  for (const [source, value] of cases) t.equal(calculate(source), value, source);
});

t.test('builds the tree the grammar gives', async (t) => {
  t.same(parseArithmetic('1-2*-3'), {
    kind: 'bin',
    op: '-',
    left: { kind: 'num', value: 1 },
    right: { kind: 'bin', op: '*', left: { kind: 'num', value: 2 }, right: { kind: 'neg', operand: { kind: 'num', value: 3 } } },
  });
});

t.test('refuses text that does not parse with a syntax error saying where', async (t) => {
  for (const source of ['', '1+', '(1', '1)', '1 2', 'abc', '1..2', '3.', '+1', '2**3', '()', '1+(2*)']) {
    const err = syntaxError(source);
    t.equal(err.reason, 'syntax', source);
    t.type(err.position, 'number', source);
  }
  t.equal(syntaxError('1 + x').message, "expected a number or ( at position 4, found 'x'");
  t.equal(syntaxError('(1').message, "expected ')' at position 2, found the end");
});

t.test('refuses deep nesting and long text as syntax errors rather than overflowing the stack', async (t) => {
  t.equal(syntaxError(`${'('.repeat(300)}1${')'.repeat(300)}`).reason, 'syntax');
  t.equal(syntaxError('-'.repeat(500) + '1').reason, 'syntax');
  t.equal(syntaxError('1+'.repeat(600) + '1').reason, 'syntax');
  t.equal(calculate(`${'('.repeat(20)}1${')'.repeat(20)}`), 1, 'moderate nesting is fine');
});

t.test('refuses division and remainder by zero and non-finite values as math errors', async (t) => {
  for (const source of ['1/0', '5 % (2-2)', '9'.repeat(400), `${'9'.repeat(200)}*${'9'.repeat(200)}`]) {
    t.throws(() => evaluateArithmetic(parseArithmetic(source)), { name: 'ArithmeticError', reason: 'math' }, source.slice(0, 20));
  }
});

t.test('finds the arithmetic in a goal and nothing in a goal without it', async (t) => {
  t.equal(findArithmetic('What is (19*23)?'), '(19*23)');
  t.equal(findArithmetic('What is 2 + 2?'), '2 + 2');
  t.equal(findArithmetic('Compute 2*3.'), '2*3');
  t.equal(findArithmetic('What is -5 + 2?'), '-5 + 2');
  t.equal(findArithmetic('Say hello.'), undefined);
  t.equal(findArithmetic('Write 3 haikus.'), undefined);
  t.equal(findArithmetic('a well-known fact'), undefined);
  t.equal(findArithmetic(''), undefined);
  t.equal(findArithmetic(`${'. '.repeat(500_000)}1+1 x`), undefined, 'a run too long to be an expression is not one');
  t.equal(findArithmetic(`${'word '.repeat(100_000)}then 4*5`), '4*5', 'a long goal is scanned to its end');
});

// ---- properties -------------------------------------------------------------------------------

const PRECEDENCE: Record<BinaryOp, number> = { '+': 1, '-': 1, '*': 2, '/': 2, '%': 2 };

/** Expression trees over non-negative integer literals (a leading '-' is always a `neg` node). */
function exprArb(ops: readonly BinaryOp[]): fc.Arbitrary<Expr> {
  const { expr } = fc.letrec<{ expr: Expr }>((tie) => ({
    expr: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.integer({ min: 0, max: 999 }).map((value): Expr => ({ kind: 'num', value })),
      tie('expr').map((operand): Expr => ({ kind: 'neg', operand })),
      fc.tuple(fc.constantFrom(...ops), tie('expr'), tie('expr')).map(([op, left, right]): Expr => ({ kind: 'bin', op, left, right })),
    ),
  }));
  return expr;
}

/** Prints a tree with only the parentheses precedence and left associativity need, and random spacing. */
function print(expr: Expr, space: () => string): string {
  switch (expr.kind) {
    case 'num':
      return String(expr.value);
    case 'neg':
      return expr.operand.kind === 'bin' ? `-(${print(expr.operand, space)})` : `-${print(expr.operand, space)}`;
    case 'bin': {
      const p = PRECEDENCE[expr.op];
      const l = print(expr.left, space);
      const r = print(expr.right, space);
      const left = expr.left.kind === 'bin' && PRECEDENCE[expr.left.op] < p ? `(${l})` : l;
      const right = expr.right.kind === 'bin' && PRECEDENCE[expr.right.op] <= p ? `(${r})` : r;
      return `${left}${space()}${expr.op}${space()}${right}`;
    }
  }
}

/** The reference: exact integer arithmetic with BigInt over the same tree. */
function referenceBig(expr: Expr): bigint {
  switch (expr.kind) {
    case 'num':
      return BigInt(expr.value);
    case 'neg':
      return -referenceBig(expr.operand);
    case 'bin': {
      const a = referenceBig(expr.left);
      const b = referenceBig(expr.right);
      if (expr.op === '+') return a + b;
      if (expr.op === '-') return a - b;
      if (expr.op === '*') return a * b;
      throw new Error(`the integer reference has no ${expr.op}`);
    }
  }
}

/** The reference for all operators: JavaScript numbers over the same tree, undefined where a divisor is zero. */
function referenceNumber(expr: Expr): number | undefined {
  switch (expr.kind) {
    case 'num':
      return expr.value;
    case 'neg': {
      const v = referenceNumber(expr.operand);
      return v === undefined ? undefined : -v;
    }
    case 'bin': {
      const a = referenceNumber(expr.left);
      const b = referenceNumber(expr.right);
      if (a === undefined || b === undefined) return undefined;
      const ops: Record<BinaryOp, () => number | undefined> = {
        '+': () => a + b,
        '-': () => a - b,
        '*': () => a * b,
        '/': () => (b === 0 ? undefined : a / b),
        '%': () => (b === 0 ? undefined : a % b),
      };
      return ops[expr.op]();
    }
  }
}

const spacing = fc.array(fc.constantFrom('', '', ' ', '  ', '\t'), { minLength: 64, maxLength: 64 });
const spacer = (spaces: string[]): (() => string) => {
  let i = 0;
  return () => spaces[i++ % spaces.length] ?? '';
};

t.test('parses any printed expression back to the same tree', async (t) => {
  fc.assert(
    fc.property(exprArb(['+', '-', '*', '/', '%']), spacing, (expr, spaces) => {
      const source = print(expr, spacer(spaces));
      fc.pre(source.length <= 1000);
      const parsed = parseArithmetic(source);
      if (JSON.stringify(parsed) !== JSON.stringify(expr)) throw new Error(`${source} parsed to another tree`);
    }),
    { numRuns: 1000 },
  );
  t.pass('the property held for 1000 runs');
});

t.test('agrees with exact integer arithmetic on generated integer expressions', async (t) => {
  fc.assert(
    fc.property(exprArb(['+', '-', '*']), (expr) => {
      const source = print(expr, () => '');
      fc.pre(source.length <= 1000);
      const exact = referenceBig(expr);
      fc.pre(exact <= BigInt(Number.MAX_SAFE_INTEGER) && exact >= -BigInt(Number.MAX_SAFE_INTEGER));
      return evaluateArithmetic(parseArithmetic(source)) === Number(exact);
    }),
    { numRuns: 1000 },
  );
  t.pass('the property held for 1000 runs');
});

t.test('agrees with a reference evaluator on every operator, including math errors for zero divisors', async (t) => {
  fc.assert(
    fc.property(exprArb(['+', '-', '*', '/', '%']), (expr) => {
      const source = print(expr, () => ' ');
      fc.pre(source.length <= 1000);
      const want = referenceNumber(expr);
      let got: number | 'math-error';
      try {
        got = evaluateArithmetic(parseArithmetic(source));
      } catch (err) {
        if (!(err instanceof ArithmeticError) || err.reason !== 'math') throw err;
        got = 'math-error';
      }
      if (want === undefined || !Number.isFinite(want)) return got === 'math-error';
      return Object.is(got, want);
    }),
    { numRuns: 1000 },
  );
  t.pass('the property held for 1000 runs');
});

t.test('never throws anything but an ArithmeticError on random text', async () => {
  const arithmeticish = fc.string({ unit: fc.constantFrom(...'0123456789+-*/%(). x\n'), maxLength: 200 });
  fc.assert(
    fc.property(fc.oneof(arithmeticish, fc.string({ unit: 'grapheme', maxLength: 100 })), (source) => {
      try {
        const value = evaluateArithmetic(parseArithmetic(source));
        return typeof value === 'number' && Number.isFinite(value);
      } catch (err) {
        return err instanceof ArithmeticError;
      }
    }),
    { numRuns: 2000 },
  );
  t.pass('the property held for 2000 runs');
});

t.test('finds only expressions that parse, in any goal text', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'0123456789+-*/%(). ?abc'), maxLength: 80 }), (goal) => {
      const found = findArithmetic(goal);
      if (found === undefined) return true;
      parseArithmetic(found);
      return goal.includes(found);
    }),
    { numRuns: 1000 },
  );
  t.pass('the property held for 1000 runs');
});
