import t from 'tap';
import { metricSum } from '../../ui/src/metrics-text.js';

const exposition = [
  '# HELP arpd_runs_ended_total Runs ended, by outcome and profile.',
  '# TYPE arpd_runs_ended_total counter',
  'arpd_runs_ended_total{profile="default",outcome="succeeded"} 5',
  'arpd_runs_ended_total{profile="default",outcome="failed"} 2',
  'arpd_runs_ended_total{profile="a b",outcome="canceled"} 1',
  '# TYPE arpd_run_queue_depth gauge',
  'arpd_run_queue_depth 3',
  'arpd_run_queue_depth_other 100',
  'arpd_run_queue_oldest_age_seconds 1.5',
  '',
].join('\n');

t.test('sums a counter over every label set', async (t) => {
  t.equal(metricSum(exposition, 'arpd_runs_ended_total'), 8);
});

t.test('reads a gauge without labels and not a metric whose name only starts the same', async (t) => {
  t.equal(metricSum(exposition, 'arpd_run_queue_depth'), 3);
});

t.test('gives undefined for a metric that is not there, and skips comment lines', async (t) => {
  t.equal(metricSum(exposition, 'arpd_nope'), undefined);
  t.equal(metricSum('# TYPE arpd_x gauge\n', 'arpd_x'), undefined);
});
