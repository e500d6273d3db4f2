"""Section experiments' shared machinery: a section measured now and one read back from its
saved file give the same results, so an interrupted experiment's report is the same report."""
from experiments import sections


def test_a_fresh_measurement_and_its_reuse_are_the_same_in_the_same_order(tmp_path):
  def measure():  # keys out of alphabetical order, as a report's rows often are
    return {'models': {'weighted': 0.5, 'focal': (0.25, 1.0), 'baseline': float('nan')}}
  fresh = sections.measured('section', measure, tmp_path)
  reused = sections.measured('section', measure, tmp_path)
  assert list(fresh['models']) == list(reused['models']) == ['weighted', 'focal', 'baseline']
  assert fresh['models']['focal'] == reused['models']['focal'] == [0.25, 1.0]
  assert fresh['measured_s'] == reused['measured_s']
