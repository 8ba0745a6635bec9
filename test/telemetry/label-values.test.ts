import t from 'tap';
import { ProfileLabels, codeLabel } from '../../src/telemetry/label-values.js';

t.test('keeps the first profile names as label values and maps later ones to other', async (t) => {
  const labels = new ProfileLabels(100);
  for (let i = 0; i < 100; i++) t.equal(labels.of(`p${i}`), `p${i}`);
  t.equal(labels.of('p100'), 'other', 'the 101st name shares one series');
  t.equal(labels.of('p5000'), 'other');
  t.equal(labels.of('p42'), 'p42', 'a name admitted before keeps its own series');
  t.equal(labels.size, 100, 'no more than the cap are kept');
  t.equal(labels.of(undefined), 'none');
  t.equal(labels.of(''), 'none');
});

t.test('keeps arpd\'s error codes as label values and maps anything else to other', async (t) => {
  t.equal(codeLabel('E_RUNTIME_LOST'), 'E_RUNTIME_LOST');
  t.equal(codeLabel('runtime.failed'), 'other', 'a runtime\'s own code is free text');
  t.equal(codeLabel(`E_${'x'.repeat(10)}`), 'other');
  t.equal(codeLabel(undefined), 'none');
});
